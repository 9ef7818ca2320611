"""Which implementation each custom op runs, so training can print it instead of degrading silently.

Every op registers its implementations best-first, each with an availability test for a device.
``'ref'`` is the pure-PyTorch reference path that runs everywhere; a future fused CUDA kernel would
register ``'cuda'`` ahead of it. The reference code (stylegan2-ada-pytorch) fell back from its
plugins to slow code with only a warning; here the chosen path is always inspectable.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dnnlib import Registry

# Modules whose import registers an op; imported lazily by describe_op_paths to avoid a cycle.
_OP_MODULES = ("bias_act", "upfirdn2d", "conv2d_resample", "modulated_conv2d", "grid_sample_gradfix")


@dataclass(frozen=True)
class OpImpl:
    """One implementation of an op."""

    name: str                                          # 'ref' (pure PyTorch) or 'cuda' (fused kernel)
    available: Callable[[torch.device | None], bool]   # can it run on this device (None: unknown)?


OP_IMPLS = Registry("op")  # op name -> tuple[OpImpl, ...], best first


def _always(device: torch.device | None) -> bool:
    return True


REF = OpImpl("ref", _always)


def register_op(op: str, *impls: OpImpl) -> None:
    """Register the implementations of ``op``, best first; the last one must always be available."""
    assert impls and impls[-1].available(None), f"{op}: needs an always-available fallback"
    OP_IMPLS.register(op, tuple(impls))


def resolve_impl(op: str, impl: str = "auto", device: torch.device | None = None) -> str:
    """Name of the implementation ``op`` runs for the requested ``impl`` on ``device``.

    Raises:
        ValueError: ``impl`` is neither 'auto' nor registered for ``op``, or cannot run on ``device``.
    """
    impls = OP_IMPLS.get(op)
    if impl == "auto":
        return next(i.name for i in impls if i.available(device))
    for candidate in impls:
        if candidate.name == impl:
            if not candidate.available(device):
                raise ValueError(f"{op}: implementation '{impl}' is not available on {device}")
            return impl
    known = ", ".join(["auto"] + [i.name for i in impls])
    raise ValueError(f"{op}: unknown implementation '{impl}' (known: {known})")


def describe_op_paths(device: torch.device | str | None = None) -> dict[str, str]:
    """Map every op to the implementation 'auto' picks on ``device``, e.g. ``{'bias_act': 'ref', ...}``."""
    for module in _OP_MODULES:
        importlib.import_module(f"torch_utils.ops.{module}")
    dev = torch.device(device) if isinstance(device, str) else device
    return {op: resolve_impl(op, "auto", dev) for op in sorted(OP_IMPLS)}
