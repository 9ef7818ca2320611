"""Adaptive discriminator augmentation (ADA): the augmentation pipeline D sees every image through.

Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", section 2 and
appendix B. Same transformations, order, strengths and probabilities as stylegan2-ada-pytorch's
``training/augment.py``. Each transformation is applied to each image independently with probability
``multiplier * p``; with p below ~0.8 they do not leak into the generator, because each is invertible
in distribution (section 2.2).

- Geometry (pixel blitting and general transformations): x-flip, 90-degree rotation, integer
  translation, isotropic scale, pre-rotation, anisotropic scale, post-rotation, fractional translation,
  composed into one 3x3 matrix per image. Resampling: reflect padding, 2x upsampling with the sym6
  wavelet, bilinear ``grid_sample``, 2x downsampling with the time-reversed wavelet. The wavelet is
  orthonormal, so up- then down-sampling is exact at integer offsets: integer translations are lossless.
- Colour: brightness, contrast, luma flip, hue rotation, saturation, as one 4x4 matrix.
- Image-space filtering: per-image gains on four octave bands, energy-normalised.
- Corruptions: additive RGB noise and cutout.

Two refinements over the reference, both making the geometry more exact (see the tests): flips and
quarter turns of square images are pixel permutations (the asymmetric wavelet is not mirror-invariant:
through the resampler a mirrored white-noise image errs by 30% rms), and the resampling grid is
centred on the wavelet's centroid (5.10 taps, not the 5.5 of a symmetric filter); centred at 5.5 the
centre of rotation and scaling would sit 0.2 px off.

The step never waits for the device: the per-image parameters (a few numbers per image) are drawn and
composed into matrices on the CPU, where the resampler reads its padding margins, and reach the device
by asynchronous copies; the host reads ``p`` from a mirror that follows every write to the buffer.
"""

import numpy as np
import torch
import torch.nn.functional as F

from thygan.errors import UserError
from torch_utils.ops import grid_sample_gradfix, upfirdn2d

# Decomposition low-pass of Daubechies' least-asymmetric wavelet with 6 vanishing moments ("sym6"), as
# published (e.g. PyWavelets' ``sym6.dec_lo``); tests check orthonormality and the vanishing moments.
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)

# Zero-phase half-band low-pass: the autocorrelation of the sym2 (= db2) wavelet, i.e. the 4-point
# Deslauriers-Dubuc interpolation filter. Its dilations give the octave bands of the image filter.
HALF_BAND = (-1 / 32, 0, 9 / 32, 16 / 32, 9 / 32, 0, -1 / 32)

# Expected share of image power per band (lowest first): a 1/f spectrum, as in the reference.
BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)

GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
AUGPIPE_SPECS = {
    "blit": _BLIT,
    "geom": _GEOM,
    "color": _COLOR,
    "filter": dict(imgfilter=1),
    "noise": dict(noise=1),
    "cutout": dict(cutout=1),
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
}


def build_augment_pipe(name: str) -> "AugmentPipe":
    """The pipeline ``name`` of AUGPIPE_SPECS (e.g. 'bgc') with the reference strengths and p = 0."""
    if name not in AUGPIPE_SPECS:
        raise UserError(f"--augpipe: expected one of {', '.join(AUGPIPE_SPECS)}, got '{name}'")
    return AugmentPipe(**AUGPIPE_SPECS[name])


def octave_filter_bank(num_bands: int = 4) -> np.ndarray:
    """Zero-phase FIR filters splitting [0, pi] into octaves (lowest first) that sum to a unit impulse.

    Returns:
        ``[num_bands, taps]`` float64; 43 taps for 4 bands (cut-offs pi/8, pi/4, pi/2).
    """
    lows = [np.ones(1)]  # lows[j]: low-pass with cut-off pi / 2**j
    for level in range(num_bands - 1):
        dilated = np.zeros((len(HALF_BAND) - 1) * 2**level + 1)
        dilated[:: 2**level] = HALF_BAND
        lows.append(np.convolve(lows[-1], dilated))
    taps = len(lows[-1])
    lows = [np.pad(f, (taps - len(f)) // 2) for f in lows]
    bands = [lows[-1]] + [lows[j - 1] - lows[j] for j in range(num_bands - 1, 0, -1)]
    return np.stack(bands)


class AugmentPipe(torch.nn.Module):
    """Applies the enabled augmentations to a batch, each with probability ``multiplier * p``."""

    def __init__(
        self, *,
        xflip: float = 0,                 # probability multiplier: x-flip
        rotate90: float = 0,              # probability multiplier: rotation by a multiple of 90 degrees
        xint: float = 0,                  # probability multiplier: integer translation
        scale: float = 0,                 # probability multiplier: isotropic scaling
        rotate: float = 0,                # probability multiplier: arbitrary rotation
        aniso: float = 0,                 # probability multiplier: anisotropic scaling
        xfrac: float = 0,                 # probability multiplier: fractional translation
        brightness: float = 0,            # probability multiplier: brightness
        contrast: float = 0,              # probability multiplier: contrast
        lumaflip: float = 0,              # probability multiplier: luma flip
        hue: float = 0,                   # probability multiplier: hue rotation
        saturation: float = 0,            # probability multiplier: saturation
        imgfilter: float = 0,             # probability multiplier: image-space filtering
        noise: float = 0,                 # probability multiplier: additive RGB noise
        cutout: float = 0,                # probability multiplier: cutout
        xint_max: float = 0.125,          # integer translation range, fraction of image size
        scale_std: float = 0.2,           # std of log2 isotropic scale
        rotate_max: float = 1,            # rotation range, fraction of a half turn (1 = full circle)
        aniso_std: float = 0.2,           # std of log2 anisotropic scale
        xfrac_std: float = 0.125,         # std of fractional translation, fraction of image size
        brightness_std: float = 0.2,      # std of the brightness offset (images in [-1, 1])
        contrast_std: float = 0.5,        # std of log2 contrast
        hue_max: float = 1,               # hue rotation range, fraction of a half turn
        saturation_std: float = 1,        # std of log2 saturation
        imgfilter_bands=(1, 1, 1, 1),     # probability multiplier per octave band, lowest first
        imgfilter_std: float = 1,         # std of log2 band gain
        noise_std: float = 0.1,           # std of the per-image noise std
        cutout_size: float = 0.5,         # cutout square side, fraction of image size
    ):
        super().__init__()
        # Every argument, JSON-ready: checkpoints rebuild the pipe as AugmentPipe(**init_kwargs).
        self.init_kwargs = {key: value for key, value in locals().items() if key not in ("self", "__class__")}
        self.init_kwargs["imgfilter_bands"] = list(imgfilter_bands)
        for key, value in self.init_kwargs.items():
            setattr(self, key, value)
        if len(self.imgfilter_bands) != len(BAND_POWER):
            raise ValueError(f"AugmentPipe: imgfilter_bands needs {len(BAND_POWER)} entries")
        self.register_buffer("p", torch.zeros([]))  # overall probability; ADA adjusts it during training
        self._p_host = 0.0                     # float(self.p), read once per write, not once per forward
        self._p_read_from = (self.p, self.p._version)  # the buffer and its write count when last read
        self.register_buffer("Hz_geom", upfirdn2d.setup_filter(list(SYM6), separable=True))
        bank = octave_filter_bank(len(BAND_POWER))
        self.register_buffer("Hz_fbank", torch.as_tensor(bank, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: ``[N, C, H, W]`` float in about [-1, 1] -> augmented images, same shape.

        Differentiable (twice) w.r.t. ``images``; randomness comes from torch's global RNG: the CPU
        generator for the per-image parameters, the images' device generator for the noise pixels.
        """
        if images.ndim != 4:
            raise ValueError(f"AugmentPipe: expected images [N, C, H, W], got {list(images.shape)}")
        if not self.p_value() > 0:  # nothing to do; also spares the filters' border effects
            return images
        n, c, h, w = images.shape
        geometry = self.sample_geometry(n, h, w)
        if geometry is not None:
            images = self._apply_geometry(images, *geometry)
        color = self.sample_color(n, c)
        if color is not None:
            images = _apply_color(images, _to_device(color, images.device).to(images.dtype))
        gains = self.sample_filter_gains(n)
        if gains is not None:
            images = _filter_separable(images, (_to_device(gains, images.device) @ self.Hz_fbank).to(images.dtype))
        if self.noise > 0:
            sigma = _to_device(self._gate(torch.randn([n]).abs() * self.noise_std, self.noise, 0), images.device)
            images = images + torch.randn_like(images) * sigma.to(images.dtype)[:, None, None, None]
        if self.cutout > 0:
            images = images * self._cutout_mask(n, h, w, device=images.device).to(images.dtype)
        return images

    def p_value(self) -> float:
        """``p`` as a Python float. Reads the buffer only after something wrote to it (``fill_``,
        ``copy_``, ``load_state_dict``, ``.to``): reading a device tensor waits for the device."""
        source, version = self._p_read_from
        if source is not self.p or version != self.p._version:  # `.to` replaces the buffer, writes count
            self._p_host = float(self.p)
            self._p_read_from = (self.p, self.p._version)
        return self._p_host

    def set_p(self, value: float) -> None:
        """Write ``p`` without a device read to refresh the mirror (rounded on the CPU as the buffer rounds)."""
        self.p.fill_(value)
        self._p_host = float(torch.tensor(value, dtype=self.p.dtype))
        self._p_read_from = (self.p, self.p._version)

    # ---- random parameters ------------------------------------------------------------------------

    def _gate(self, value: torch.Tensor, multiplier: float, identity: float) -> torch.Tensor:
        """Per image: ``value`` with probability ``multiplier * p``, else ``identity``."""
        keep = torch.rand(value.shape[:1], device=value.device) < multiplier * self.p_value()
        keep = keep.reshape([-1] + [1] * (value.ndim - 1))
        return torch.where(keep, value, torch.full_like(value, identity))

    def _log2_normal(self, n: int, std: float, multiplier: float, device) -> torch.Tensor:
        """Per image: a factor ``2 ** N(0, std)`` with probability ``multiplier * p``, else 1."""
        return self._gate(torch.exp2(torch.randn([n], device=device) * std), multiplier, 1)

    def sample_geometry(self, n: int, h: int, w: int, *, device: torch.device | str = "cpu"):
        """Draw the geometric transforms of ``n`` images of ``h x w`` pixels.

        Matrices map output pixel coordinates to input ones (x right, y down, origin at the image
        centre, in pixels); the whole transform is ``dihedral @ affine``.

        Returns:
            None if no geometric augmentation is enabled, else ``(dihedral, affine)``, both
            ``[n, 3, 3]`` float32: the x-flip and 90-degree part (entries in {-1, 0, 1}) and the rest.
        """
        if not any(getattr(self, op) > 0 for op in GEOMETRIC_OPS):
            return None
        eye = torch.eye(3, device=device).repeat(n, 1, 1)
        dihedral, affine = eye, eye
        if self.xflip > 0:
            flip = self._gate(torch.randint(2, [n], device=device).float(), self.xflip, 0)
            dihedral = dihedral @ _scale_inv(1 - 2 * flip, torch.ones_like(flip))
        if self.rotate90 > 0:
            quarter = self._gate(torch.randint(4, [n], device=device).float(), self.rotate90, 0)
            dihedral = dihedral @ _rotate_inv(quarter * (np.pi / 2)).round()  # exact entries in {-1, 0, 1}
        if self.xint > 0:
            t = self._gate((torch.rand([n, 2], device=device) * 2 - 1) * self.xint_max, self.xint, 0)
            affine = affine @ _translate_inv(torch.round(t[:, 0] * w), torch.round(t[:, 1] * h))
        if self.scale > 0:
            s = self._log2_normal(n, self.scale_std, self.scale, device)
            affine = affine @ _scale_inv(s, s)
        # Two rotations, each with probability p_rot, so that some rotation happens with rotate * p.
        p_rot = 1 - float(np.sqrt(np.clip(1 - self.rotate * self.p_value(), 0, 1)))
        if self.rotate > 0:  # pre-rotation
            affine = affine @ _rotate_inv(self._random_angle(n, p_rot, device))
        if self.aniso > 0:
            s = self._log2_normal(n, self.aniso_std, self.aniso, device)
            affine = affine @ _scale_inv(s, 1 / s)
        if self.rotate > 0:  # post-rotation
            affine = affine @ _rotate_inv(self._random_angle(n, p_rot, device))
        if self.xfrac > 0:
            t = self._gate(torch.randn([n, 2], device=device) * self.xfrac_std, self.xfrac, 0)
            affine = affine @ _translate_inv(t[:, 0] * w, t[:, 1] * h)
        return dihedral, affine

    def _random_angle(self, n: int, probability: float, device) -> torch.Tensor:
        theta = (torch.rand([n], device=device) * 2 - 1) * np.pi * self.rotate_max
        keep = torch.rand([n], device=device) < probability
        return torch.where(keep, theta, torch.zeros_like(theta))

    def sample_color(self, n: int, channels: int, *, device: torch.device | str = "cpu"):
        """Draw ``[n, 4, 4]`` float32 colour matrices acting on homogeneous RGB; None if none is enabled.

        Returns:
            ``[n, 4, 4]`` float32 or None.
        """
        if not any(getattr(self, op) > 0 for op in COLOR_OPS):
            return None
        eye = torch.eye(4, device=device)
        luma = torch.tensor([1.0, 1, 1, 0], device=device) / np.sqrt(3)  # the grey axis
        luma_outer = torch.outer(luma, luma)
        C = eye.repeat(n, 1, 1)
        if self.brightness > 0:
            b = self._gate(torch.randn([n], device=device) * self.brightness_std, self.brightness, 0)
            shift = eye.repeat(n, 1, 1)
            shift[:, :3, 3] = b[:, None]
            C = shift @ C
        if self.contrast > 0:
            s = self._log2_normal(n, self.contrast_std, self.contrast, device)
            C = torch.diag_embed(torch.stack([s, s, s, torch.ones_like(s)], dim=1)) @ C
        if self.lumaflip > 0:
            flip = self._gate(torch.randint(2, [n], device=device).float(), self.lumaflip, 0)
            C = (eye - 2 * luma_outer * flip[:, None, None]) @ C  # Householder reflection across grey
        if self.hue > 0 and channels > 1:
            theta = self._gate((torch.rand([n], device=device) * 2 - 1) * np.pi * self.hue_max, self.hue, 0)
            C = _rotate_about(luma[:3], theta) @ C
        if self.saturation > 0 and channels > 1:
            s = self._log2_normal(n, self.saturation_std, self.saturation, device)
            chroma = (eye - luma_outer)[None, :3, :3] * s[:, None, None]  # scale distance from grey
            sat = eye.repeat(n, 1, 1)
            sat[:, :3, :3] = luma_outer[None, :3, :3] + chroma
            C = sat @ C
        return C

    def sample_filter_gains(self, n: int, *, device: torch.device | str = "cpu") -> torch.Tensor | None:
        """Draw ``[n, bands]`` float32 octave gains; None if filtering is disabled."""
        if not self.imgfilter > 0:
            return None
        power = torch.tensor(BAND_POWER, device=device)
        gains = torch.ones([n, len(BAND_POWER)], device=device)
        for band, strength in enumerate(self.imgfilter_bands):
            g = self._log2_normal(n, self.imgfilter_std, self.imgfilter * strength, device)
            t = torch.ones_like(gains)
            t[:, band] = g
            # Rescale so that an image with the expected 1/f spectrum keeps its energy.
            gains = gains * t / (power * t.square()).sum(dim=1, keepdim=True).sqrt()
        return gains

    def _cutout_mask(self, n: int, h: int, w: int, *, device) -> torch.Tensor:
        """``[n, 1, h, w]`` on ``device``: 0 inside a random square of side ``cutout_size`` (fraction of
        the image); its size and place are drawn on the CPU."""
        size = _to_device(self._gate(torch.full([n], float(self.cutout_size)), self.cutout, 0), device)
        centre = _to_device(torch.rand([n, 2]), device)
        x = ((torch.arange(w, device=device) + 0.5) / w)[None, :] - centre[:, :1]
        y = ((torch.arange(h, device=device) + 0.5) / h)[None, :] - centre[:, 1:]
        outside_x = x.abs() >= size[:, None] / 2
        outside_y = y.abs() >= size[:, None] / 2
        return (outside_x[:, None, :] | outside_y[:, :, None]).float()[:, None]

    # ---- geometric resampling ---------------------------------------------------------------------

    def _apply_geometry(self, images: torch.Tensor, dihedral: torch.Tensor, affine: torch.Tensor):
        """dihedral, affine: ``[N, 3, 3]`` on the CPU (see ``sample_geometry``)."""
        h, w = images.shape[2:]
        if h == w:
            if not _is_identity(dihedral):
                images = _permute_pixels(images, _to_device(dihedral, images.device))
        else:
            affine = dihedral @ affine  # a quarter turn of a non-square image is no pixel permutation
        return self._resample(images, affine)

    def _resample(self, images: torch.Tensor, G_inv: torch.Tensor) -> torch.Tensor:
        """Warp ``images`` so that output pixel ``q`` shows input point ``G_inv q`` (``[N, 3, 3]``, CPU)."""
        if _is_identity(G_inv):
            return images
        h, w = images.shape[2:]
        ext = self.Hz_geom.numel() // 4  # 2x-filter reach in input pixels; also the bilinear reach
        pad = _reflect_margins(G_inv, h, w, ext)
        images = reflect_pad(images, pad)
        images = upfirdn2d.upsample2d(images, self.Hz_geom, up=2)
        # Sampling positions, affine in the upsampled output index (ku, kv): one [N, 2, 3] matrix.
        to_grid = _grid_matrix(G_inv, h, w, ext, pad, upsampled_size=images.shape[2:])
        dtype = torch.promote_types(images.dtype, torch.float32)  # positions need more than half precision
        ku = torch.arange(2 * (w + 2 * ext), device=images.device, dtype=dtype)
        kv = torch.arange(2 * (h + 2 * ext), device=images.device, dtype=dtype)
        index = torch.stack([ku[None, :].expand(len(kv), -1), kv[:, None].expand(-1, len(ku)),
                             torch.ones(len(kv), len(ku), device=images.device, dtype=dtype)], dim=-1)
        grid = torch.einsum("nij,hwj->nhwi", _to_device(to_grid, images.device).to(dtype), index)
        images = grid_sample_gradfix.grid_sample(images, grid.to(images.dtype))
        return upfirdn2d.downsample2d(images, self.Hz_geom, down=2, padding=-2 * ext, flip_filter=True)


# Upsampled pixel k lies at padded input position (k + delay) / 2, where the delay follows from
# upsample2d's padding and the filter's centroid (sym6 is not symmetric: 5.10 taps, not 5.5).
SYM6_DELAY = len(SYM6) // 2 - 1 - float(np.sum(np.arange(len(SYM6)) * SYM6) / np.sum(SYM6))


def _to_device(values: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Queue a CPU -> device copy without waiting for the device (a blocking copy synchronises).

    Safe for pageable CPU memory: CUDA stages it before the call returns, so ``values`` may go.
    """
    return values.to(device, non_blocking=True)


def _is_identity(matrices: torch.Tensor) -> bool:
    """matrices: ``[N, 3, 3]`` on the CPU."""
    return bool((matrices == torch.eye(3)).all())


def _reflect_margins(G_inv: torch.Tensor, h: int, w: int, ext: int) -> tuple[int, int, int, int]:
    """Mirror padding ``(x0, x1, y0, y1)`` the warp ``G_inv`` (``[N, 3, 3]``, CPU) reads, filters included.

    The corners of the output grid, extended by what the downsampling filter reads, map to the input
    corners of a quadrilateral; its bounding box beyond the image, plus the filter reach, is the margin.
    """
    cx, cy = (w - 1) / 2 + ext, (h - 1) / 2 + ext
    corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]])
    src = G_inv[:, :2, :] @ corners.T  # [n, 2, 4] where the corners sample the input
    need = torch.stack([-(w - 1) / 2 - src[:, 0].amin(1), src[:, 0].amax(1) - (w - 1) / 2,
                        -(h - 1) / 2 - src[:, 1].amin(1), src[:, 1].amax(1) - (h - 1) / 2], dim=1)
    # One reflection at most: bounds memory; further out grid_sample reads zeros.
    limit = torch.tensor([w - 1, w - 1, h - 1, h - 1])
    pad = torch.minimum((need.amax(0) + ext).ceil().clamp(min=0), limit)
    return tuple(int(v) for v in pad.tolist())


def _grid_matrix(G_inv: torch.Tensor, h: int, w: int, ext: int, pad, *, upsampled_size) -> torch.Tensor:
    """``[N, 2, 3]`` float64 (CPU): upsampled output index (ku, kv, 1) -> ``grid_sample``'s [-1, 1].

    The chain: index -> centred output position (u, v), the output grid extended by ``ext`` which the
    downsampling crops again; -> centred input position ``G_inv (u, v)``; -> upsampled padded index
    ``k' = 2 (s + centre + pad) - delay`` -> normalised for ``align_corners=False``.
    """
    px0, _, py0, _ = pad
    up_h, up_w = upsampled_size
    half = SYM6_DELAY / 2
    to_centred = torch.tensor([[0.5, 0, half - ext - (w - 1) / 2], [0, 0.5, half - ext - (h - 1) / 2], [0, 0, 1]],
                              dtype=torch.float64)
    to_normalised = torch.tensor([[4 / up_w, 0, (4 * ((w - 1) / 2 + px0) - 2 * SYM6_DELAY + 1) / up_w - 1],
                                  [0, 4 / up_h, (4 * ((h - 1) / 2 + py0) - 2 * SYM6_DELAY + 1) / up_h - 1]],
                                 dtype=torch.float64)
    return to_normalised @ G_inv.double() @ to_centred


def _mat3(rows: list[list], like: torch.Tensor) -> torch.Tensor:
    """``[N, 3, 3]`` from nested rows of per-image tensors ``[N]`` or Python numbers."""
    return torch.stack([torch.stack([torch.as_tensor(e, dtype=like.dtype, device=like.device).expand_as(like)
                                     for e in row], dim=-1) for row in rows], dim=-2)


def _translate_inv(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _mat3([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]], tx)


def _scale_inv(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _mat3([[1 / sx, 0, 0], [0, 1 / sy, 0], [0, 0, 1]], sx)


def _rotate_inv(theta: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(theta), torch.sin(theta)
    return _mat3([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]], theta)


def _rotate_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``[N, 4, 4]`` rotation by ``theta`` about the unit 3-vector ``axis`` (Rodrigues' formula)."""
    x, y, z = axis
    zero = torch.zeros_like(x)
    cross = torch.stack([torch.stack([zero, -z, y]), torch.stack([z, zero, -x]), torch.stack([-y, x, zero])])
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    rot = cos * torch.eye(3, device=theta.device) + sin * cross + (1 - cos) * torch.outer(axis, axis)
    out = torch.eye(4, device=theta.device).repeat(len(theta), 1, 1)
    out[:, :3, :3] = rot
    return out


def _permute_pixels(images: torch.Tensor, dihedral: torch.Tensor) -> torch.Tensor:
    """Apply per-image flips / quarter turns of a square image exactly, by gathering pixels."""
    n, c, h, w = images.shape
    centre = (w - 1) / 2
    y, x = torch.meshgrid(torch.arange(h, device=images.device) - centre,
                          torch.arange(w, device=images.device) - centre, indexing="ij")
    points = torch.stack([x.flatten(), y.flatten()]).float()  # [2, h*w]
    src = (dihedral[:, :2, :2] @ points + centre).round().long()  # [n, 2, h*w]
    index = (src[:, 1] * w + src[:, 0])[:, None, :].expand(n, c, h * w)
    return images.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)


def _apply_color(images: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Multiply each image's homogeneous RGB by its ``[4, 4]`` matrix; grey images act as R = G = B."""
    n, c, h, w = images.shape
    if c == 3:
        return torch.einsum("nij,njhw->nihw", C[:, :3, :3], images) + C[:, :3, 3, None, None]
    if c == 1:
        gain = C[:, :3, :3].sum(dim=2).mean(dim=1)  # grey in, mean of the three outputs back
        return images * gain[:, None, None, None] + C[:, :3, 3].mean(dim=1)[:, None, None, None]
    raise UserError(f"--augpipe: colour augmentation needs images with 1 or 3 channels, got {c}")


def reflect_pad(images: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Mirror-pad ``[N, C, H, W]`` by ``(x0, x1, y0, y1)`` without repeating the edge pixel.

    Unlike ``F.pad(mode='reflect')`` the padding may exceed the image size (the mirror repeats).
    """
    x0, x1, y0, y1 = pad
    h, w = images.shape[2:]
    images = images.index_select(3, _reflect_index(w, x0, x1, images.device))
    return images.index_select(2, _reflect_index(h, y0, y1, images.device))


def _reflect_index(size: int, before: int, after: int, device) -> torch.Tensor:
    index = torch.arange(-before, size + after, device=device)
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def _filter_separable(images: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Filter each image along x and y with its own zero-phase 1-D filter ``filters[n]`` (odd taps)."""
    n, c, h, w = images.shape
    taps = filters.shape[1]
    images = reflect_pad(images, (taps // 2,) * 4).reshape(1, n * c, h + taps - 1, w + taps - 1)
    weight = filters.repeat_interleave(c, dim=0)[:, None, None, :]  # [n*c, 1, 1, taps]
    images = F.conv2d(images, weight, groups=n * c)
    images = F.conv2d(images, weight.transpose(2, 3), groups=n * c)
    return images.reshape(n, c, h, w)
