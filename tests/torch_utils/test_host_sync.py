"""The host-sync guard the step's no-synchronisation tests rely on: it names every kind of sync."""

import pytest
import torch

from tests.torch_utils.host_sync import HostSyncError, no_host_sync

DEVICE = torch.zeros(4, device="meta")  # stands in for a GPU tensor (see host_sync)
HOST = torch.arange(4.0)

SYNCS = {
    "item": lambda: DEVICE[0].item(),
    "float": lambda: float(DEVICE[0]),
    "bool": lambda: bool(DEVICE[0] > 0),
    "if": lambda: 1 if DEVICE.sum() else 0,
    "tolist": lambda: DEVICE.tolist(),
    "cpu": lambda: DEVICE.cpu(),
    "boolean index": lambda: DEVICE[DEVICE > 0],
    "nonzero": lambda: DEVICE.nonzero(),
    "masked_select": lambda: DEVICE.masked_select(DEVICE > 0),
    "torch.tensor to device": lambda: torch.tensor([1.0, 2.0], device=DEVICE.device),
    "torch.as_tensor to device": lambda: torch.as_tensor(1.0, device=DEVICE.device),
    "blocking .to": lambda: HOST.to(DEVICE.device),
    "blocking copy_": lambda: DEVICE.clone().copy_(HOST),
}

ALLOWED = {
    "non-blocking .to": lambda: HOST.to(DEVICE.device, non_blocking=True),
    "host scalar": lambda: HOST[1].item() + float(HOST[2]),
    "host list": lambda: HOST.tolist(),
    "masking": lambda: torch.where(DEVICE > 0, DEVICE, 0).sum(),
    "device factory": lambda: torch.arange(3, device=DEVICE.device) + torch.ones(3, device=DEVICE.device),
}


@pytest.mark.parametrize("name", list(SYNCS))
def test_guard_catches_every_sync(name):
    with pytest.raises(HostSyncError), no_host_sync():
        SYNCS[name]()


@pytest.mark.parametrize("name", list(ALLOWED))
def test_guard_lets_asynchronous_work_pass(name):
    with no_host_sync():
        ALLOWED[name]()


def test_guard_sees_the_backward_pass():
    x = torch.zeros(2, 3, device="meta", requires_grad=True)
    with no_host_sync() as seen:
        (x.exp() * 2).sum().backward()
    assert x.grad.shape == x.shape and "exp.default" in seen and "mul.Tensor" in seen
