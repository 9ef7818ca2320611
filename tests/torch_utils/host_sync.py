"""Detect host-device synchronisation without a GPU.

Code under test runs with its tensors on the ``meta`` device, which stands in for CUDA: meta tensors
have shapes but no values, so whatever would make the host wait for a GPU's values (``.item()``,
``float(t)``, ``bool(t)``, ``.tolist()``, ``.cpu()``, a boolean index, whose size depends on the values)
fails there. ``no_host_sync`` names each of them with one error type, and also catches the one sync
that meta would let pass: a blocking copy from the host to the device (``torch.tensor(x,
device=...)``, ``.to(device)`` without ``non_blocking``), which waits for the device queue to drain.
"""

from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Operators whose output size depends on the values: the host must read a count back.
_DATA_DEPENDENT = {aten.nonzero.default, aten.masked_select.default, aten.unique_consecutive.default,
                   aten._unique2.default, aten.unique_dim.default}
_FACTORIES = {torch.tensor, torch.as_tensor, torch.asarray}


class HostSyncError(AssertionError):
    """The host would wait for the device here."""


def _on_device(value) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type != "cpu"


class _DispatchGuard(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()  # operator names, so a test can check the guard saw its backward pass

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.seen.add(func.__name__)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if func is aten._local_scalar_dense.default and _on_device(args[0]):
            raise HostSyncError("a device scalar read on the host (.item(), float(), bool(), int())")
        if func in _DATA_DEPENDENT and any(_on_device(t) for t in tensors):
            raise HostSyncError(f"{func}: output size depends on device values")
        if func is aten.index.Tensor and any(i is not None and i.dtype == torch.bool and _on_device(i)
                                             for i in args[1]):
            raise HostSyncError("boolean-mask indexing on the device")
        if func is aten._to_copy.default and "device" in kwargs:
            _check_copy(src=args[0].device, dst=torch.device(kwargs["device"]), non_blocking=kwargs.get("non_blocking"))
        if func is aten.copy_.default:
            _check_copy(src=args[1].device, dst=args[0].device, non_blocking=args[2] if len(args) > 2
                        else kwargs.get("non_blocking"))
        return func(*args, **kwargs)


def _check_copy(*, src: torch.device, dst: torch.device, non_blocking) -> None:
    if src.type != "cpu" and dst.type == "cpu":
        raise HostSyncError("a device -> host copy")
    if src.type == "cpu" and dst.type != "cpu" and not non_blocking:
        raise HostSyncError("a blocking host -> device copy (use non_blocking=True)")


class _FunctionGuard(TorchFunctionMode):
    """``torch.tensor(data, device=...)`` copies from the host below the dispatcher's view: catch it here."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if func in _FACTORIES and device is not None and torch.device(device).type != "cpu":
            data = args[0] if args else kwargs.get("data")
            if not _on_device(data):
                raise HostSyncError(f"torch.{func.__name__}(host data, device={device}): a blocking copy")
        return func(*args, **kwargs)


@contextmanager
def no_host_sync():
    """Raise HostSyncError at the first synchronising operation; yields the set of operators seen."""
    dispatch = _DispatchGuard()
    with _FunctionGuard(), dispatch:
        yield dispatch.seen
