"""HoVer-Net assembled from MONAI blocks: MONAI parity at full width, contract tests on the tiny one."""

import pytest
import torch

from tests.segment.conftest import TINY
from thygan.io.checkpoint import load_checkpoint, save_checkpoint
from thygan.segment.networks import NETWORKS, HoVerNet


@pytest.mark.parametrize("mode,nr_types", [("original", 0), ("fast", 6)])
def test_full_width_has_monais_layout(mode, nr_types):
    from monai.networks.nets import HoVerNet as MonaiHoVerNet

    theirs = MonaiHoVerNet(mode=mode, out_classes=nr_types)
    ours = HoVerNet(mode=mode, nr_types=nr_types)
    assert [(k, v.shape) for k, v in theirs.state_dict().items()] == \
           [(k, v.shape) for k, v in ours.state_dict().items()]


@pytest.mark.slow
def test_full_width_is_monais_hovernet():
    from monai.networks.nets import HoVerNet as MonaiHoVerNet

    torch.manual_seed(0)
    theirs = MonaiHoVerNet(mode="original", out_classes=0).eval()
    ours = HoVerNet(mode="original", nr_types=0, upsample="bilinear").eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(1, 3, 270, 270)
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    assert b["np"].shape == (1, 2, 80, 80)
    torch.testing.assert_close(b["np"], a["nucleus_prediction"], rtol=0, atol=0)
    torch.testing.assert_close(b["hv"], a["horizontal_vertical"], rtol=0, atol=0)


@pytest.mark.parametrize("nr_types", [0, 4])
def test_tiny_contract(nr_types):
    torch.manual_seed(0)
    net = HoVerNet(nr_types=nr_types, **TINY)
    out = net(torch.rand(2, 3, 96, 96))
    assert out["np"].shape == (2, 2, 4, 4) and out["hv"].shape == (2, 2, 4, 4)
    assert ("tp" in out) == bool(nr_types) and (not nr_types or out["tp"].shape == (2, nr_types, 4, 4))
    sum(o.square().mean() for o in out.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert all(isinstance(p, torch.nn.Parameter) for p in net.encoder_parameters())


def test_output_size():
    net = HoVerNet(**TINY)
    assert net.output_size(128) == 36
    with pytest.raises(ValueError, match="input size 130"):
        net.output_size(130)


def test_nearest_upsampling_changes_output():
    torch.manual_seed(0)
    a = HoVerNet(**TINY).eval()
    b = HoVerNet(**TINY, upsample="bilinear").eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert not torch.allclose(a(x)["np"], b(x)["np"])


def test_checkpoint_round_trip_bit_exact(tmp_path):
    torch.manual_seed(0)
    net = HoVerNet(nr_types=3, **TINY).eval()
    save_checkpoint(tmp_path / "net", networks={"net": net}, registry=NETWORKS, extra={"input_size": 128})
    loaded = load_checkpoint(tmp_path / "net", registry=NETWORKS)
    back = loaded.networks["net"]
    assert back.init_kwargs == net.init_kwargs
    for (k, v), (k2, v2) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


@pytest.mark.parametrize("kwargs", [dict(mode="slow"), dict(nr_types=1), dict(blocks=(1, 1, 1))])
def test_bad_configuration(kwargs):
    with pytest.raises(ValueError):
        HoVerNet(**kwargs)
