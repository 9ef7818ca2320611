"""The bilinear resize that StyleGAN2-ADA's metric detectors apply before Inception/VGG16.

The reference resizes with TF1's legacy ``resize_bilinear`` semantics (``align_corners=False``,
no half-pixel centres): output pixel ``j`` samples input coordinate ``j * in / out``, and a
coordinate past the last pixel is clamped to it. The NVIDIA detectors express this as an
``affine_grid`` + ``grid_sample(padding_mode='border')`` with a shifted grid; the result is the same
separable interpolation, which is what we build here: one small [out, in] weight matrix per axis, so
the resize is two matrix products. Published FIDs depend on these exact sample positions (a
half-pixel-centred resize moves FID by several points on small images).
"""

import numpy as np
import torch


def legacy_bilinear_weights(size_in: int, size_out: int) -> np.ndarray:
    """Interpolation matrix [size_out, size_in] float64: row j mixes the pixels around j * in / out.

    Each row has at most two non-zero weights that sum to 1.
    """
    src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
    lo = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    hi = np.minimum(lo + 1, size_in - 1)  # border clamp: past the last pixel, lo == hi takes all the weight
    frac = src - lo
    weights = np.zeros([size_out, size_in], dtype=np.float64)
    rows = np.arange(size_out)
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def legacy_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize x: [N, C, H, W] float -> [N, C, size[0], size[1]] with TF1 legacy bilinear sampling.

    A no-op (returns ``x``) when the size already matches.
    """
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    rows = torch.from_numpy(legacy_bilinear_weights(height, size[0])).to(device=x.device, dtype=x.dtype)
    cols = torch.from_numpy(legacy_bilinear_weights(width, size[1])).to(device=x.device, dtype=x.dtype)
    return torch.matmul(torch.matmul(rows, x), cols.T)
