"""Modulated convolution with weight demodulation (Karras et al. 2020, section 2.2, eqs. 1-3).

Each sample n scales the input channels of the shared weight by its style s_n (modulation), then
optionally rescales every output channel to unit expected L2 norm (demodulation, eq. 3:
``1 / sqrt(sum w'^2 + eps)``). Two equivalent formulations, as in stylegan2-ada-pytorch:
fused (one grouped convolution over the batch with per-sample weights) and unfused (scale the
activations by s before and by the demodulation coefficients after a shared-weight convolution).
"""

import torch

from torch_utils.ops.conv2d_resample import conv2d_resample
from torch_utils.ops.impl_report import REF, register_op, resolve_impl
from torch_utils.ops.upfirdn2d import Padding

register_op("modulated_conv2d", REF)

DEMOD_EPS = 1e-8  # epsilon in eq. 3


def fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a * b + c`` with broadcasting, in one kernel; differentiable to any order."""
    return torch.addcmul(c, a, b)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    *,
    impl: str = "auto",
) -> torch.Tensor:
    """Convolve each sample with the weight modulated by its styles.

    Args:
        x: ``[N, I, H, W]``.
        weight: ``[O, I, kh, kw]``, shared by the batch.
        styles: ``[N, I]``, per-sample input-channel scales.
        noise: added after the convolution (and demodulation), e.g. ``[N, 1, H', W']``; None for none.
        up: integer upsampling factor (see ``conv2d_resample``).
        down: integer downsampling factor.
        padding: convolution padding (see ``conv2d_resample``).
        resample_filter: FIR filter for up/downsampling, from ``setup_filter``.
        demodulate: normalize each output channel of the modulated weight (eq. 3).
        flip_weight: True correlates with the weight, False convolves.
        fused_modconv: one grouped convolution (True) or scale-conv-scale (False); same result.
        impl: 'auto' or 'ref' (passed on to ``conv2d_resample``).

    Returns:
        ``[N, O, H', W']`` in ``x.dtype``.
    """
    resolve_impl("modulated_conv2d", impl, x.device)
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != in_channels or list(styles.shape) != [batch_size, in_channels]:
        raise ValueError(f"modulated_conv2d: x {list(x.shape)}, weight {list(weight.shape)} and styles "
                         f"{list(styles.shape)} do not fit [N, I, H, W], [O, I, kh, kw], [N, I]")
    # float16 only: bfloat16 has float32's exponent range, so its sums cannot overflow and the rescale
    # would change nothing but the rounding.
    if x.dtype == torch.float16 and demodulate:
        weight, styles = _prenormalize(weight, styles)
    conv = dict(f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight, impl=impl)

    dcoefs = None
    if demodulate:
        # sum_{i,k} (s_i w_oik)^2 = sum_i s_i^2 (sum_k w_oik^2): a [N, I] x [I, O] product instead of
        # materialising the [N, O, I, kh, kw] modulated weights (the costly part on CPU).
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + DEMOD_EPS).rsqrt()  # [N, O]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), **conv)
        if demodulate:
            dcoefs = dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
            return x * dcoefs if noise is None else fma(x, dcoefs, noise.to(x.dtype))
        return x if noise is None else x + noise.to(x.dtype)

    w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)
    # Fold the batch into channels: sample n becomes group n with its own weights.
    x = x.reshape(1, batch_size * in_channels, *x.shape[2:])
    w = w.reshape(batch_size * out_channels, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), groups=batch_size, **conv)
    x = x.reshape(batch_size, out_channels, *x.shape[2:])
    return x if noise is None else x + noise.to(x.dtype)


def _prenormalize(weight: torch.Tensor, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale weight and styles down by their max-norms so float16 sums cannot overflow.

    Demodulation makes the result invariant to these scales, so this changes only the rounding.
    """
    _, in_channels, kh, kw = weight.shape
    fan_in = in_channels * kh * kw
    weight = weight * (1 / fan_in**0.5 / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
    styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    return weight, styles
