"""Classifier registry: torchvision layouts, weight files, offline ImageNet weights, features, checkpoints."""

import numpy as np
import pytest
import torch

from thygan.classify.efficientnet import imagenet_weights_path
from thygan.classify.models import (
    MODELS,
    build_model,
    feature_extractor,
    load_classifier,
    read_classifier,
    save_classifier,
)
from thygan.errors import UserError

# Parameter counts of torchvision's ImageNet ResNets (torchvision model documentation).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                      "resnet101": 44_549_160, "resnet152": 60_192_808}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_resnets_have_torchvisions_parameter_count(name):
    model = build_model(name, 1000)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


def test_resnet_keys_follow_torchvision():
    keys18 = set(build_model("resnet18", 10).state_dict())
    keys50 = set(build_model("resnet50", 10).state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.1.conv2.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.running_var", "fc.weight"} <= keys18
    assert "layer1.0.downsample.0.weight" not in keys18  # 64 -> 64 channels: identity shortcut
    assert {"layer1.0.downsample.0.weight", "layer3.5.conv3.weight", "layer4.2.bn3.bias"} <= keys50


@pytest.mark.parametrize("name", MODELS.names())
def test_every_entry_classifies_and_trains(name):
    torch.manual_seed(0)
    kwargs = {"width": 8} if name.startswith("resnet") else {}
    model = build_model(name, 3, **kwargs)
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_features_are_what_the_head_sees(name):
    model = build_model(name, 4, weights="none").eval()
    x = torch.randn(3, 3, 64, 64)
    features = feature_extractor(model)(x)
    assert features.shape == (3, model.num_features)
    fc = model.fc if name.startswith("resnet") else model._fc
    torch.testing.assert_close(fc(features), model(x))


def test_torchvision_weights_load_with_a_new_head(tmp_path):
    source = build_model("resnet18", 1000, width=8)
    for p in source.parameters():
        p.data.normal_()
    # the study's files come from nn.DataParallel: every key behind 'module.'
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "imagenet.pth")
    model = build_model("resnet18", 2, weights=tmp_path / "imagenet.pth", width=8)
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert value.shape[0] == 2
        else:
            assert torch.equal(value, source.state_dict()[key]), key


def test_weights_of_another_depth_are_refused(tmp_path):
    torch.save(build_model("resnet18", 1000, width=8).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(UserError, match="--model_type"):
        build_model("resnet34", 2, weights=tmp_path / "r18.pth", width=8)
    with pytest.raises(UserError, match="--model_type"):
        build_model("resnet18", 2, weights=tmp_path / "r18.pth", width=16)


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="--model_type: unknown classifier 'resnet19'"):
        build_model("resnet19", 2)


def test_efficientnet_starts_from_the_packaged_imagenet_weights():
    packaged = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    model = build_model("efficientnet_lite0", 2)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in packaged.items() if not k.startswith("_fc."))
    assert state["_fc.weight"].shape == (2, 1280)


def test_efficientnet_imagenet_weights_recognise_a_cat():
    """skimage's bundled photo of Chelsea the cat: ImageNet classes 281-285 are the domestic cats."""
    import skimage.data
    import torch.nn.functional as F

    from thygan.classify.data import normalize_uint8, to_tensor

    model = build_model("efficientnet_lite0", 1000).eval()
    x = to_tensor(normalize_uint8(skimage.data.chelsea()))[None]
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    with torch.no_grad():
        top = int(model(x).argmax())
    assert 281 <= top <= 285


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    model = build_model("resnet18", 3, width=8)
    for p in model.parameters():
        p.data.normal_()
    path = save_classifier(tmp_path / "vl_0.5000", model, model_type="resnet18", class_names=["a", "b", "c"])
    loaded = read_classifier(path)
    assert loaded.model_type == "resnet18" and loaded.class_names == ["a", "b", "c"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(load_classifier(path)(x), model.eval()(x), rtol=0, atol=0)


def test_study_pth_loads_with_its_model_type(tmp_path):
    model = build_model("resnet34", 2, width=8)
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "vl_0.2983.pth")
    loaded = read_classifier(tmp_path / "vl_0.2983.pth", model_type="resnet34")
    assert loaded.model.init_kwargs == {"depth": 34, "num_classes": 2, "width": 8}
    x = torch.randn(1, 3, 32, 32)
    np.testing.assert_array_equal(loaded.model(x).detach().numpy(), model.eval()(x).detach().numpy())
    with pytest.raises(UserError, match="--model_type"):
        read_classifier(tmp_path / "vl_0.2983.pth", model_type="resnet18")
