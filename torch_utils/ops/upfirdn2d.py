"""Upsample, FIR-filter, downsample (upfirdn) on 2-D images, and the resampling helpers built on it.

StyleGAN2 resamples with a separable binomial FIR filter ([1, 3, 3, 1]) instead of nearest/bilinear
(Karras et al. 2020, section 2.1 and appendix B, after Zhang 2019 "Making convolutional networks
shift-invariant again"). Semantics follow stylegan2-ada-pytorch's ``upfirdn2d``:

1. upsample by inserting ``up - 1`` zeros after every sample,
2. pad with zeros (negative padding crops),
3. convolve with ``f`` (true convolution, i.e. flipped, unless ``flip_filter``), scaled by
   ``gain ** (f.ndim / 2)`` so a separable filter applies sqrt(gain) per axis,
4. keep every ``down``-th sample starting at the first.

Output size along an axis: ``(in * up + pad0 + pad1 - taps) // down + 1``.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from torch_utils.ops.impl_report import REF, register_op, resolve_impl

register_op("upfirdn2d", REF)

Scaling = int | Sequence[int]   # int or (x, y)
Padding = int | Sequence[int]   # int, (x, y) or (x0, x1, y0, y1)
CPU = torch.device("cpu")


def setup_filter(
    f: torch.Tensor | Sequence | float | None,
    device: torch.device = CPU,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
) -> torch.Tensor:
    """Turn a filter spec into the float32 tensor that ``upfirdn2d`` expects.

    Args:
        f: None (identity), a scalar, 1-D taps or a 2-D kernel ``[fh, fw]``.
        device: where the result lives.
        normalize: scale so that the taps sum to 1 (DC gain 1).
        flip_filter: flip the taps (turns convolution into correlation).
        gain: overall gain; multiplied in as ``gain ** (ndim / 2)``.
        separable: keep 1-D taps 1-D; None means separable only for 1-D filters of >= 8 taps.

    Returns:
        ``[taps]`` if separable, else ``[fh, fw]`` (a 1-D spec becomes its outer product).
    """
    f = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if f.ndim > 2 or f.numel() == 0:
        raise ValueError(f"setup_filter: expected a non-empty scalar, 1-D or 2-D filter, got {list(f.shape)}")
    if f.ndim == 0:
        f = f.reshape(1)
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8  # long filters are cheaper as two 1-D passes
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("setup_filter: a 2-D filter cannot be made separable")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Scaling = 1,
    down: Scaling = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
    *,
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images.

    Args:
        x: ``[N, C, H, W]``.
        f: ``[fh, fw]``, separable ``[taps]``, or None for the identity filter.
        up: integer upsampling factor, int or (x, y).
        down: integer downsampling factor, int or (x, y).
        padding: int, (x, y) or (x0, x1, y0, y1), applied after upsampling; negative crops.
        flip_filter: correlate instead of convolve.
        gain: the filter is scaled by ``gain ** (f.ndim / 2)``; pass ``up ** 2`` to keep brightness
            when upsampling (the inserted zeros dilute the signal by that factor).
        impl: 'auto' or 'ref'.

    Returns:
        ``[N, C, (H * upy + py0 + py1 - fh) // downy + 1, (W * upx + px0 + px1 - fw) // downx + 1]``.
    """
    resolve_impl("upfirdn2d", impl, x.device)
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d: expected x of shape [N, C, H, W], got {list(x.shape)}")
    f = _as_filter(f, x)
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    f = f * (gain ** (f.ndim / 2))
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))  # conv2d correlates; flipping makes it a true convolution
    if (upx > 1 or upy > 1) and downx == downy == 1:
        return _upsample_polyphase(x, f, upx, upy, parse_padding(padding))
    x = _insert_zeros(x, upx, upy)
    x = F.pad(x, list(parse_padding(padding)))  # F.pad crops where the padding is negative
    return _filter_and_stride(x, f, downx, downy)


def _upsample_polyphase(x: torch.Tensor, g: torch.Tensor, upx: int, upy: int,
                        padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero insertion + correlation with ``g``, computed as a strided transposed convolution.

    The transposed convolution never multiplies the inserted zeros (up**2 fewer operations). Output
    sample n of the reference pipeline is transposed-convolution sample n + taps - 1 - pad0 along
    each axis; what falls outside the transposed convolution's support is zero.
    """
    c, (h, w) = x.shape[1], x.shape[2:]
    px0, px1, py0, py1 = padding
    kernel = g.flip(list(range(g.ndim)))
    if g.ndim == 2:
        x = F.conv_transpose2d(x, kernel[None, None].expand(c, 1, *g.shape), stride=(upy, upx), groups=c)
        fh, fw = g.shape
    else:
        x = F.conv_transpose2d(x, kernel[None, None, None, :].expand(c, 1, 1, -1), stride=(1, upx), groups=c)
        x = F.conv_transpose2d(x, kernel[None, None, :, None].expand(c, 1, -1, 1), stride=(upy, 1), groups=c)
        fh = fw = g.shape[0]
    x = _window(x, dim=3, start=fw - 1 - px0, length=w * upx + px0 + px1 - fw + 1)
    return _window(x, dim=2, start=fh - 1 - py0, length=h * upy + py0 + py1 - fh + 1)


def _window(x: torch.Tensor, *, dim: int, start: int, length: int) -> torch.Tensor:
    """x[start : start + length] along ``dim``, zero-filled where that runs past either end."""
    size = x.shape[dim]
    before, after = max(-start, 0), max(start + length - size, 0)
    x = x.narrow(dim, max(start, 0), min(start + length, size) - max(start, 0))
    if before or after:
        pad = [0, 0] * (3 - dim) + [before, after]
        x = F.pad(x, pad)
    return x


def filter2d(x: torch.Tensor, f: torch.Tensor | None, padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """FIR-filter ``x``; the output has the input's size plus ``padding``."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: Scaling = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Upsample by ``up`` with FIR filter ``f``; the output is ``in * up`` (plus ``padding``)."""
    upx, upy = parse_scaling(up)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy,
                     impl=impl)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: Scaling = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Low-pass with ``f`` and downsample by ``down``; the output is ``in // down`` (plus ``padding``)."""
    downx, downy = parse_scaling(down)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
         py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def parse_scaling(scaling: Scaling) -> tuple[int, int]:
    """``int`` or ``(x, y)`` -> ``(x, y)``, each >= 1."""
    sx, sy = (scaling, scaling) if isinstance(scaling, int) else tuple(scaling)
    if not (isinstance(sx, int) and isinstance(sy, int) and sx >= 1 and sy >= 1):
        raise ValueError(f"expected integer scaling factors >= 1, got {scaling}")
    return sx, sy


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """``int``, ``(x, y)`` or ``(x0, x1, y0, y1)`` -> ``(x0, x1, y0, y1)``."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return padding
    raise ValueError(f"expected padding as int, (x, y) or (x0, x1, y0, y1), got {padding}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """``(fw, fh)`` of a 2-D or separable filter; None is a 1x1 identity."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    if f.ndim == 2:
        return f.shape[1], f.shape[0]
    raise ValueError(f"expected a 1-D or 2-D filter, got {list(f.shape)}")


def _as_filter(f: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if f is None:
        return torch.ones([1, 1], dtype=x.dtype, device=x.device)
    if f.ndim not in (1, 2):
        raise ValueError(f"upfirdn2d: expected a 1-D or 2-D filter, got {list(f.shape)}")
    return f.to(dtype=x.dtype, device=x.device)


def _insert_zeros(x: torch.Tensor, upx: int, upy: int) -> torch.Tensor:
    """Put ``up - 1`` zeros after every pixel along each axis."""
    if upx == 1 and upy == 1:
        return x
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    return x.reshape(n, c, h * upy, w * upx)


def _filter_and_stride(x: torch.Tensor, f: torch.Tensor, downx: int, downy: int) -> torch.Tensor:
    """Depthwise 'valid' correlation with ``f``; the stride keeps every ``down``-th output."""
    c = x.shape[1]
    if f.ndim == 2:
        return F.conv2d(x, f[None, None].expand(c, 1, *f.shape), stride=(downy, downx), groups=c)
    x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, -1), stride=(1, downx), groups=c)
    return F.conv2d(x, f[None, None, :, None].expand(c, 1, -1, 1), stride=(downy, 1), groups=c)
