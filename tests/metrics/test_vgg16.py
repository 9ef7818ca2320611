"""VGG16: torchvision's state-dict layout, features against a hand-written forward, loading and errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from thygan.errors import UserError
from thygan.metrics.detector import MetricUnavailable
from thygan.metrics.resize import legacy_bilinear_resize
from thygan.metrics.vgg16 import VGG16, load_vgg16

# torchvision.models.vgg16: conv indices in `features` and their (out, in) channels; the classifier.
TORCHVISION_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
                     14: (256, 256), 17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512),
                     26: (512, 512), 28: (512, 512)}
TORCHVISION_FCS = {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}
NARROW = dict(widths=(2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6), fc_features=16, num_classes=10)


def test_state_dict_has_torchvisions_keys_and_shapes():
    with torch.device("meta"):
        state = VGG16().state_dict()
    expected = {}
    for idx, (out_ch, in_ch) in TORCHVISION_CONVS.items():
        expected[f"features.{idx}.weight"] = (out_ch, in_ch, 3, 3)
        expected[f"features.{idx}.bias"] = (out_ch,)
    for idx, (out_f, in_f) in TORCHVISION_FCS.items():
        expected[f"classifier.{idx}.weight"], expected[f"classifier.{idx}.bias"] = (out_f, in_f), (out_f,)
    assert {key: tuple(t.shape) for key, t in state.items()} == expected


def manual_fc2(state, x):
    """VGG16 written out layer by layer from the state dict (pools after convs 2, 4, 7, 10, 13)."""
    pool_after = {2, 7, 14, 21, 28}
    for idx in sorted(TORCHVISION_CONVS):
        x = F.relu(F.conv2d(x, state[f"features.{idx}.weight"], state[f"features.{idx}.bias"], padding=1))
        if idx in pool_after:
            x = F.max_pool2d(x, 2)
    x = F.adaptive_avg_pool2d(x, 7).flatten(1)
    x = F.relu(F.linear(x, state["classifier.0.weight"], state["classifier.0.bias"]))
    return F.relu(F.linear(x, state["classifier.3.weight"], state["classifier.3.bias"]))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_features_from_a_weights_file_match_the_manual_forward(tmp_path, suffix):
    torch.manual_seed(0)
    state = VGG16(**NARROW).state_dict()
    path = tmp_path / f"vgg{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    detector = load_vgg16(path)
    images = torch.from_numpy(np.random.RandomState(0).randint(0, 256, (2, 3, 20, 20), dtype=np.uint8))
    features = detector(images)
    x = legacy_bilinear_resize(images.float(), (224, 224)) / 255
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])  # ImageNet's
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    with torch.no_grad():
        expected = manual_fc2(state, x)
    assert features.shape == (2, 16)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)


def test_without_weights_precision_recall_is_unavailable():
    with pytest.raises(MetricUnavailable, match="needs VGG16 weights.*--vgg16"):
        load_vgg16(None)


def test_foreign_weights_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--vgg16: no such file"):
        load_vgg16(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(4, 3, 3, 3)}, wrong)
    with pytest.raises(UserError, match="not a torchvision-layout VGG16 state dict"):
        load_vgg16(wrong)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    with pytest.raises(UserError, match="--vgg16: cannot read"):
        load_vgg16(junk)
