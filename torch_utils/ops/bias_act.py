"""Fused bias + activation + gain + clamp, as in StyleGAN2 (Karras et al. 2020, appendix B).

Matches stylegan2-ada-pytorch's ``bias_act`` (same activations, default alpha/gain, clamp after gain).
Only the pure-PyTorch path exists; it is built from differentiable primitives, so it supports double
backward (needed by R1 and path-length regularization).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from torch_utils.ops.impl_report import REF, register_op, resolve_impl

register_op("bias_act", REF)


@dataclass(frozen=True)
class Activation:
    """An activation with the defaults the reference uses for it."""

    func: Callable[[torch.Tensor, float], torch.Tensor]  # (x, alpha) -> activated x
    def_alpha: float                                      # default shape parameter (lrelu slope, elu scale)
    def_gain: float                                       # default output gain; sqrt(2) keeps ReLU variance


activation_funcs: dict[str, Activation] = {
    "linear": Activation(lambda x, alpha: x, def_alpha=0, def_gain=1),
    "relu": Activation(lambda x, alpha: F.relu(x), def_alpha=0, def_gain=math.sqrt(2)),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), def_alpha=0.2, def_gain=math.sqrt(2)),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), def_alpha=0, def_gain=1),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), def_alpha=0, def_gain=1),
    "elu": Activation(lambda x, alpha: F.elu(x, alpha), def_alpha=1, def_gain=1),
    "selu": Activation(lambda x, alpha: F.selu(x), def_alpha=0, def_gain=1),
    "softplus": Activation(lambda x, alpha: F.softplus(x), def_alpha=0, def_gain=1),
    # The reference gives swish the ReLU-family gain sqrt(2) (confirmed by its golden outputs).
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, def_alpha=0, def_gain=math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    *,
    impl: str = "auto",
) -> torch.Tensor:
    """Add a bias along ``dim``, apply ``act``, scale by ``gain``, clamp to [-clamp, clamp].

    Args:
        x: input tensor of any shape, e.g. ``[N, C, H, W]`` or ``[N, C]``.
        b: bias ``[x.shape[dim]]`` or None.
        dim: the dimension of ``x`` that ``b`` runs along.
        act: a key of ``activation_funcs``.
        alpha: shape parameter of the activation; None uses its default.
        gain: output scale; None uses the activation's default (sqrt(2) for relu/lrelu/swish, else 1).
        clamp: if not None, clamp the scaled output to [-clamp, clamp].
        impl: 'auto' or 'ref'.

    Returns:
        Tensor of the same shape and dtype as ``x``.
    """
    resolve_impl("bias_act", impl, x.device)
    if act not in activation_funcs:
        raise ValueError(f"bias_act: unknown activation '{act}' (known: {', '.join(activation_funcs)})")
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    spec = activation_funcs[act]
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    if b is not None:
        x = x + _broadcast_bias(x, b, dim)
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _broadcast_bias(x: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    """Reshape ``b`` so that it broadcasts along dimension ``dim`` of ``x``."""
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"bias_act: dim {dim} out of range for a {x.ndim}-D input")
    dim %= x.ndim
    if b.ndim != 1 or b.shape[0] != x.shape[dim]:
        raise ValueError(f"bias_act: bias must have shape [{x.shape[dim]}], got {list(b.shape)}")
    return b.reshape([-1 if i == dim else 1 for i in range(x.ndim)]).to(x.dtype)
