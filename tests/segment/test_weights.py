"""Reference hover_net checkpoints <-> our network: every tensor by name, shape and position, both ways."""

import gzip
import json
import re
from pathlib import Path

import pytest
import torch

from thygan.errors import UserError
from thygan.segment import weights
from thygan.segment.networks import HoVerNet

KEYS = json.loads(gzip.open(Path(__file__).parent / "data" / "hovernet_keys.json.gz", "rt").read())
CONFIGS = {"original_types0": ("original", 0), "original_types5": ("original", 5), "fast_types6": ("fast", 6)}


def reference_state(name: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """A reference-layout state dict with distinct random values (the constant unpool matrix as in hover_net)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in KEYS[name]["keys"]:
        if key == weights.UNPOOL_KEY:
            state[prefix + key] = torch.ones(shape)
        elif key.endswith("num_batches_tracked"):
            state[prefix + key] = torch.randint(0, 1000, shape, generator=g)
        else:
            state[prefix + key] = torch.randn(shape, generator=g)
    return state


def group(key: str) -> str:
    """Which section a key belongs to, in either layout (encoder, or a decoder branch)."""
    m = re.match(r"decoder\.(np|hv|tp)\.", key) or re.match("(" + "|".join(weights.BRANCHES.values()) + ")", key)
    return weights.BRANCHES.get(m[1], m[1]) if m else "encoder"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_reference_checkpoint_lands_in_place(name, tmp_path):
    mode, nr_types = CONFIGS[name]
    state = reference_state(name, prefix="module.")  # saved under DataParallel
    path = tmp_path / f"hovernet_{mode}_x_tf2pytorch.tar"
    torch.save({"desc": state}, path)
    net = weights.load_reference_checkpoint(path)
    assert (net.mode, net.nr_types) == (mode, nr_types)
    assert sum(p.numel() for p in net.parameters()) == KEYS[name]["params"]
    ours = net.state_dict()
    reference = {k.removeprefix("module."): v for k, v in state.items() if not k.endswith(weights.UNPOOL_KEY)}
    mapped = {weights.reference_to_ours(k): k for k in reference}
    assert sorted(mapped) == sorted(ours)                       # a bijection onto our keys
    for new, old in mapped.items():
        assert torch.equal(ours[new], reference[old]), old      # value and shape landed where the map says
    # Independent of the map's rules: within each section, modules register in execution order in both
    # networks, so the mapped reference order must equal our order.
    for section in {group(k) for k in ours}:
        assert [weights.reference_to_ours(k) for k in reference if group(k) == section] == \
               [k for k in ours if group(k) == section]
    back = weights.export_reference_state(net)                  # and back: the reference dict exactly
    assert list(back) != [] and sorted(back) == sorted(k.removeprefix("module.") for k in state)
    for k, v in state.items():
        assert torch.equal(back[k.removeprefix("module.")], v)


def test_checkpoint_of_other_mode_refused(tmp_path):
    path = tmp_path / "hovernet_fast_pannuke_type_tf2pytorch.tar"
    torch.save({"desc": reference_state("fast_types6")}, path)
    with pytest.raises(UserError, match="mode=fast, but mode=original"):
        weights.load_reference_checkpoint(path, mode="original")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.tar"
    path.write_bytes(b"not torch")
    with pytest.raises(UserError, match="x.tar"):
        weights.load_reference_checkpoint(path)


def test_torchvision_encoder_layout(tmp_path):
    # a torchvision-style ResNet-50 state dict, built from the names torchvision uses
    net = HoVerNet(mode="fast")
    tv = {"conv1.weight": torch.randn(64, 3, 7, 7), "bn1.weight": torch.randn(64),
          "layer1.0.conv1.weight": torch.randn(64, 64, 1, 1), "layer1.0.bn3.weight": torch.randn(256),
          "layer1.0.downsample.0.weight": torch.randn(256, 64, 1, 1), "layer2.1.bn1.bias": torch.randn(128),
          "fc.weight": torch.randn(1000, 2048)}
    path = tmp_path / "resnet50.pth"
    torch.save(tv, path)
    assert weights.load_encoder(net, path, layout="torchvision") == 6
    sd = net.state_dict()
    assert torch.equal(sd["conv0.conv.weight"], tv["conv1.weight"])
    assert torch.equal(sd["res_blocks.d0.layers.denselayer_1.layers.preact/bn.weight"], tv["layer1.0.bn3.weight"])
    assert torch.equal(sd["res_blocks.d0.shortcut.weight"], tv["layer1.0.downsample.0.weight"])
    assert torch.equal(sd["res_blocks.d1.layers.denselayer_1.layers.conv1/bn.bias"], tv["layer2.1.bn1.bias"])


def test_preact_encoder(tmp_path):
    state = {k: v for k, v in reference_state("fast_types6").items() if re.match(r"conv0|d\d", k)}
    path = tmp_path / "ImageNet-ResNet50-Preact_pytorch.tar"
    torch.save({"desc": state}, path)
    net = HoVerNet(mode="fast")
    assert weights.load_encoder(net, path) == len(state)
    assert torch.equal(net.state_dict()["res_blocks.d3.bna_block.bn.weight"], state["d3.blk_bna.bn.weight"])
