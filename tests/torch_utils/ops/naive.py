"""Direct, loop-based implementations of the StyleGAN2 ops, written from their definitions.

Independent of torch_utils.ops: numpy float64, explicit zero insertion, explicit padding and a
sliding-window sum. Slow; only for tiny test tensors.
"""

import numpy as np


def zero_insert(x: np.ndarray, upx: int, upy: int) -> np.ndarray:
    """Each pixel followed by ``up - 1`` zeros along each axis."""
    n, c, h, w = x.shape
    out = np.zeros([n, c, h * upy, w * upx])
    for i in range(h):
        for j in range(w):
            out[:, :, i * upy, j * upx] = x[:, :, i, j]
    return out


def pad(x: np.ndarray, px0: int, px1: int, py0: int, py1: int) -> np.ndarray:
    """Zero padding; a negative amount removes that many rows/columns."""
    n, c, h, w = x.shape
    out = np.zeros([n, c, h + py0 + py1, w + px0 + px1])
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            si, sj = i - py0, j - px0
            if 0 <= si < h and 0 <= sj < w:
                out[:, :, i, j] = x[:, :, si, sj]
    return out


def depthwise_correlate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'Valid' correlation of every channel with the 2-D kernel ``k``."""
    kh, kw = k.shape
    ho, wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros([x.shape[0], x.shape[1], ho, wo])
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = (x[:, :, i:i + kh, j:j + kw] * k).sum(axis=(2, 3))
    return out


def fir(x: np.ndarray, f2d: np.ndarray, flip_filter: bool) -> np.ndarray:
    """'Valid' FIR filtering: true convolution (flipped kernel) unless ``flip_filter``."""
    return depthwise_correlate(x, f2d if flip_filter else f2d[::-1, ::-1])


def filter_2d(f: np.ndarray | None, gain: float = 1) -> np.ndarray:
    """The 2-D kernel a 1-D (separable) or 2-D filter stands for, times ``gain``."""
    if f is None:
        return np.full([1, 1], float(gain))
    f = np.asarray(f, dtype=np.float64)
    return (np.outer(f, f) if f.ndim == 1 else f) * gain


def upfirdn2d(x, f, up=(1, 1), down=(1, 1), padding=(0, 0, 0, 0), flip_filter=False, gain=1) -> np.ndarray:
    """Zero-insert, pad, FIR-filter, keep every ``down``-th sample; tuples are (x, y) / (x0, x1, y0, y1)."""
    y = pad(zero_insert(x, *up), *padding)
    y = fir(y, filter_2d(f, gain), flip_filter)
    return y[:, :, ::down[1], ::down[0]]


def conv_valid(x: np.ndarray, w: np.ndarray, groups: int = 1) -> np.ndarray:
    """'Valid' grouped correlation: out[n, o] = sum_c,ky,kx x[n, g(o)*I + c, i+ky, j+kx] w[o, c, ky, kx]."""
    o_ch, i_ch, kh, kw = w.shape
    ho, wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros([x.shape[0], o_ch, ho, wo])
    per_group = o_ch // groups
    for o in range(o_ch):
        g = o // per_group
        xs = x[:, g * i_ch:(g + 1) * i_ch]
        for i in range(ho):
            for j in range(wo):
                out[:, o, i, j] = (xs[:, :, i:i + kh, j:j + kw] * w[o]).sum(axis=(1, 2, 3))
    return out


def conv2d_resample(x, w, f=None, up=1, down=1, padding=(0, 0, 0, 0), groups=1, flip_weight=True,
                    flip_filter=False) -> np.ndarray:
    """Definition: pad the zero-stuffed input once (user padding plus the FIR filter's own support),
    then the weight (correlation if ``flip_weight``), the FIR filter with gain up^2 when upsampling,
    the FIR filter again when downsampling, and keep every ``down``-th sample."""
    f2d = filter_2d(f)
    fh, fw = f2d.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, \
            py1 + (fh - up) // 2
    if down > 1:
        px0, px1, py0, py1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, \
            py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    y = pad(zero_insert(x, up, up), px0, px1, py0, py1)
    y = conv_valid(y, w if flip_weight else w[:, :, ::-1, ::-1], groups)
    if up > 1:
        y = fir(y, f2d * up**2, flip_filter)
    if down > 1:
        y = fir(y, f2d, flip_filter)
    return y[:, :, ::down, ::down]


def modulated_conv2d(x, weight, styles, noise=None, demodulate=True, **conv_kwargs) -> np.ndarray:
    """Per-sample loop: modulate the weight by the sample's styles, demodulate, convolve, add noise."""
    outs = []
    for n in range(x.shape[0]):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            w = w / np.sqrt((w**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        outs.append(conv2d_resample(x[n:n + 1], w, **conv_kwargs))
    out = np.concatenate(outs)
    return out if noise is None else out + noise


def bilinear_matrix(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Matrix A [Ho*Wo, H*W] with out = A @ in.flatten() for one sample of bilinear grid sampling,
    zero padding, align_corners=False (pixel centres at (i + 0.5) / size * 2 - 1)."""
    ho, wo = grid.shape[:2]
    a = np.zeros([ho * wo, h * w])
    for r in range(ho):
        for c in range(wo):
            ix = ((grid[r, c, 0] + 1) * w - 1) / 2
            iy = ((grid[r, c, 1] + 1) * h - 1) / 2
            x0, y0 = int(np.floor(ix)), int(np.floor(iy))
            for yy, wy in ((y0, 1 - (iy - y0)), (y0 + 1, iy - y0)):
                for xx, wx in ((x0, 1 - (ix - x0)), (x0 + 1, ix - x0)):
                    if 0 <= yy < h and 0 <= xx < w:
                        a[r * wo + c, yy * w + xx] += wy * wx
    return a
