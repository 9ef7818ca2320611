"""2-D convolution combined with FIR up/downsampling, arranged like stylegan2-ada-pytorch's.

Upsampling by 2 runs as a strided transposed convolution followed by the FIR filter, downsampling as
the FIR filter followed by a strided convolution, so no full-resolution zero-stuffed or pre-decimation
tensor is convolved with the weights (Karras et al. 2020, appendix B). 1x1 kernels resample on the
cheaper side of the convolution. The result equals upfirdn2d(up) -> conv -> upfirdn2d(down).
"""

import torch
import torch.nn.functional as F

from torch_utils.ops.impl_report import REF, register_op, resolve_impl
from torch_utils.ops.upfirdn2d import Padding, filter_size, parse_padding, upfirdn2d

register_op("conv2d_resample", REF)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    *,
    impl: str = "auto",
) -> torch.Tensor:
    """Convolve ``x`` with ``w``, optionally upsampling before and downsampling after with FIR ``f``.

    Args:
        x: ``[N, groups * I, H, W]``.
        w: ``[O, I, kh, kw]``.
        f: FIR filter from ``setup_filter`` (2-D or separable), or None for no filtering.
        up: integer upsampling factor.
        down: integer downsampling factor.
        padding: padding in the upsampled image, int, (x, y) or (x0, x1, y0, y1).
        groups: number of groups, as in ``torch.nn.functional.conv2d``.
        flip_weight: True correlates with ``w`` (like conv2d); False convolves (flips ``w``).
        flip_filter: correlate with ``f`` instead of convolving.
        impl: 'auto' or 'ref' (passed on to ``upfirdn2d``).

    Returns:
        ``[N, O, H', W']``; with ``padding = k // 2``, H' = H * up // down.
    """
    resolve_impl("conv2d_resample", impl, x.device)
    _check_args(x, w, up, down, groups)
    kh, kw = w.shape[2:]
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    # Widen the padding by the filter's support so the FIR filter keeps the output size in*up//down.
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]
    fir = dict(flip_filter=flip_filter, impl=impl)

    if kw == 1 and kh == 1 and up == 1 and down > 1:  # 1x1: decimate first, convolve fewer pixels
        x = upfirdn2d(x, f, down=down, padding=pad, **fir)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # 1x1: convolve first, upsample the result
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up**2, **fir)
    if up == 1 and down > 1:  # low-pass, then let the strided convolution decimate
        x = upfirdn2d(x, f, padding=pad, **fir)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        return _conv_up(x, w, f, up, down, pad, groups, flip_weight, fir)
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain convolution
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, None, padding=pad, impl=impl)  # asymmetric or negative padding
    return _conv(x, w, groups=groups, flip_weight=flip_weight)


def _conv_up(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None, up: int, down: int, pad: list[int],
             groups: int, flip_weight: bool, fir: dict) -> torch.Tensor:
    """Upsample via a strided transposed convolution, then smooth (and optionally decimate) with ``f``."""
    out_channels, in_per_group, kh, kw = w.shape
    px0, px1, py0, py1 = pad
    # conv_transpose2d wants [groups * I, O / groups, kh, kw].
    w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
    # The transposed convolution already spreads each pixel over k - 1 (left) and k - up (right)
    # extra samples; what remains is padding for the FIR filter, or cropping folded into its padding.
    px0, px1 = px0 - (kw - 1), px1 - (kw - up)
    py0, py1 = py0 - (kh - 1), py1 - (kh - up)
    pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
    # A transposed convolution with an unflipped kernel convolves, so flip it to correlate.
    x = _conv(x, w, stride=up, padding=(pyt, pxt), groups=groups, transpose=True, flip_weight=not flip_weight)
    x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2, **fir)
    if down > 1:
        x = upfirdn2d(x, f, down=down, **fir)
    return x


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int | tuple[int, int] = 0,
          groups: int = 1, transpose: bool = False, flip_weight: bool = True) -> torch.Tensor:
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _check_args(x: torch.Tensor, w: torch.Tensor, up: int, down: int, groups: int) -> None:
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_resample: expected 4-D x and w, got {list(x.shape)} and {list(w.shape)}")
    if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1):
        raise ValueError(f"conv2d_resample: up and down must be integers >= 1, got {up}, {down}")
    if groups < 1 or w.shape[0] % groups or x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"conv2d_resample: {x.shape[1]} input channels do not fit weight "
                         f"{list(w.shape)} with groups={groups}")
