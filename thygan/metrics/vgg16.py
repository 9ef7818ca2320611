"""VGG16 (Simonyan & Zisserman 2015, configuration D): the feature space of precision/recall.

Kynkaanniemi et al. 2019 ("Improved Precision and Recall Metric for Assessing Generative Models")
measure PR on VGG16's second fully connected layer (fc2: 4096-d, after ReLU); StyleGAN2-ADA's
``pr50k3_full`` does the same. The module mirrors torchvision's ``vgg16`` so that its state dict loads
with ``strict=True``: ``features.N`` (13 convolutions with ReLU, 5 max-pools), an adaptive 7x7
average pool, ``classifier.0/3/6``. Weights come only from a file the user gives (a ``.pth``/``.pt``
state dict or ``.safetensors``); nothing is downloaded, and without weights PR is reported as
unavailable rather than computed on a random network.

Input convention: torchvision's ImageNet one (RGB in [0, 1], mean/std normalised) at 224x224,
resized with the same legacy bilinear resize as Inception. The reference's own ``vgg16.pt`` (a TF
port with caffe preprocessing) is not available offline, so PR from torchvision weights compares
thygan runs with each other, not with published PR values.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from thygan.errors import UserError
from thygan.metrics.detector import MetricUnavailable, as_rgb_uint8, file_sha256
from thygan.metrics.resize import legacy_bilinear_resize

VGG16_SIZE = 224
# Configuration D: output channels of each 3x3 convolution, "M" = 2x2 max-pool.
CONFIG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16(nn.Module):
    """VGG16 with torchvision's module layout (and therefore its state-dict keys).

    Args:
        widths: Output channels of the 13 convolutions (configuration D by default; a narrower
            network keeps the same keys, which tests use).
        fc_features: Width of fc1 and fc2.
        num_classes: Outputs of the last layer (classifier.6).
    """

    def __init__(self, *,
                 widths: tuple[int, ...] = tuple(c for c in CONFIG_D if c != "M"),  # conv channels
                 fc_features: int = 4096,                                           # fc1/fc2 width
                 num_classes: int = 1000):                                          # ImageNet classes
        super().__init__()
        layers: list[nn.Module] = []
        widths_left, in_channels = list(widths), 3
        for item in CONFIG_D:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out_channels = widths_left.pop(0)
                layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                           nn.ReLU(inplace=True)]
                in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * 7 * 7, fc_features), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(fc_features, fc_features), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(fc_features, num_classes))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], *, source: str = "VGG16 weights") -> "VGG16":
        """Build with the widths the weights imply and load them strictly (no random init is paid)."""
        conv_keys = sorted(int(key.split(".")[1]) for key in state
                           if key.startswith("features.") and key.endswith(".weight"))
        try:
            widths = tuple(int(state[f"features.{i}.weight"].shape[0]) for i in conv_keys)
            kwargs = dict(widths=widths, fc_features=int(state["classifier.0.weight"].shape[0]),
                          num_classes=int(state["classifier.6.weight"].shape[0]))
            with torch.device("meta"):
                model = cls(**kwargs)
            model.load_state_dict(state, strict=True, assign=True)
        except (KeyError, RuntimeError, TypeError, IndexError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{source}: not a torchvision-layout VGG16 state dict "
                            f"({first_line[:300]})") from None
        return model.eval()

    def fc2(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, 3, 224, 224] normalised -> fc2 activations [N, fc_features] (after ReLU)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier[:5](x)  # fc1, ReLU, Dropout (identity in eval), fc2, ReLU


def read_state_dict(path: str | Path, *, what: str = "--vgg16") -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict (loaded with weights_only).

    Args:
        what: How errors name where ``path`` came from ('--vgg16', '$THYGAN_VGG16').
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what}: no such file '{path}' (expected torchvision VGG16 weights, "
                        f".pth or .safetensors)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for foreign files
        raise UserError(f"{what}: cannot read '{path}' ({str(exc).strip().splitlines()[0][:200]})") from None
    if not isinstance(state, dict):
        raise UserError(f"{what}: '{path}' holds a {type(state).__name__}, expected a state dict")
    return state


class VGG16Detector(nn.Module):
    """uint8 images [N, C, H, W] (any size) -> VGG16 fc2 features [N, 4096] float32."""

    def __init__(self, net: VGG16, *, identity: str, source: str = "vgg16"):
        super().__init__()
        self.net = net.eval()
        self.identity = identity
        self.source = source
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = as_rgb_uint8(images, self.mean.device).to(torch.float32)
        x = legacy_bilinear_resize(x, (VGG16_SIZE, VGG16_SIZE)) / 255
        return self.net.fc2((x - self.mean) / self.std).to(torch.float32)


GIVE_VGG16 = "pass --vgg16 PATH or set THYGAN_VGG16"  # how a user supplies the weights (training: the variable)


def vgg16_unavailable_reason(how: str = GIVE_VGG16) -> str:
    return (f"precision/recall needs VGG16 weights, which thygan does not download; {how} "
            f"(torchvision's vgg16 state dict, e.g. vgg16-397923af.pth)")


def load_vgg16(path: str | Path | None, *, device: torch.device | str = "cpu", what: str = "--vgg16",
               how: str = GIVE_VGG16) -> VGG16Detector:
    """VGG16 features from the user's weights file; ``path=None`` raises MetricUnavailable.

    Args:
        what: How errors name where ``path`` came from ('--vgg16', '$THYGAN_VGG16').
        how: How the user supplies the weights, for the unavailable message.
    """
    if path is None:
        raise MetricUnavailable(vgg16_unavailable_reason(how))
    net = VGG16.from_state_dict(read_state_dict(path, what=what), source=f"{what}: {path}")
    return VGG16Detector(net, identity=file_sha256(path), source=str(path)).to(device)
