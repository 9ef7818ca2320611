"""Training configurations (`--cfg`): the reference's table, its `auto` formulas, and small CPU presets.

Presets are data; `resolve_preset` is the one pure function that turns a name, the dataset resolution
and the GPU count into numbers, and `network_kwargs` turns those into G and D constructor arguments
exactly as StyleGAN2-ADA's train.py does.
"""

import dataclasses
from dataclasses import dataclass

from dnnlib import Registry

PRESETS = Registry("preset")


@dataclass(frozen=True)
class Preset:
    ref_gpus: int            # GPU count the batch was tuned for; batch_gpu = mb // ref_gpus
    kimg: int                # total training length, thousands of real images shown to D
    mb: int                  # total minibatch
    mbstd: int               # minibatch-std group size
    fmaps: float             # channel_base = fmaps * 32768
    lrate: float             # Adam learning rate for G and D
    gamma: float             # R1 weight
    ema: float               # G_ema half-life, kimg
    ramp: float | None       # G_ema ramp-up as a fraction of cur_nimg (None = off)
    map: int                 # mapping-network layers
    z_dim: int               # latent size
    w_dim: int               # intermediate latent size
    channel_base_unit: int   # channels at resolution r = min(fmaps * unit // r, channel_max)
    channel_max: int         # widest layer
    num_fp16_res: int        # top resolutions in reduced precision (fp16 on CUDA, or bf16 by --precision)
    conv_clamp: int | None   # activation clamp for the reduced-precision layers
    d_architecture: str      # discriminator architecture
    pl_weight: float         # path-length regularization weight
    style_mixing_prob: float  # probability of mixing two latents
    kimg_per_tick: float     # progress-report interval, kimg
    cpu: bool                # a preset sized for CPU (tests, demo)


# fmt: off
# The reference's cfg_specs (stylegan2-ada-pytorch train.py), -1 marking what `auto` computes, then
# thygan's CPU presets: narrow networks (the golden `cond32` width) that learn colour and coarse
# texture in minutes on 2 cores (not for publication-quality images). Columns: Preset's first fields.
CFG_SPECS = {
    #            gpus  kimg     mb  mbstd  fmaps  lrate   gamma   ema   ramp  map
    "auto":      (-1,  25000,   -1,  -1,   -1,    -1,     -1,     -1,   0.05, 2),
    "stylegan2": (8,   25000,   32,   4,    1,    0.002,  10,     10,   None, 8),
    "paper256":  (8,   25000,   64,   8,    0.5,  0.0025, 1,      20,   None, 8),
    "paper512":  (8,   25000,   64,   8,    1,    0.0025, 0.5,    20,   None, 8),
    "paper1024": (8,   25000,   32,   4,    1,    0.002,  2,      10,   None, 8),
    "cifar":     (2,   100000,  64,  32,    1,    0.0025, 0.01,   500,  0.05, 2),
    "cpu32":     (1,   20,       8,   4,    1,    0.0025, 0.05,   1,    0.05, 2),
    "cpu64":     (1,   20,       8,   4,    1,    0.0025, 0.2,    1,    0.05, 2),
}
# The rest of each Preset: what the reference's train.py fixes for all (z/w 512, fp16 in the top 4
# resolutions clamped at 256, resnet D, path length 2, mixing 0.9, 4 kimg ticks) or sets for cifar.
NETWORK_SPECS = {
    #            z_dim w_dim  unit   c_max fp16 clamp arch      pl   mix  tick cpu
    "auto":      (512, 512,  32768,  512,  4,   256,  "resnet", 2.0, 0.9, 4.0, False),
    "stylegan2": (512, 512,  32768,  512,  4,   256,  "resnet", 2.0, 0.9, 4.0, False),
    "paper256":  (512, 512,  32768,  512,  4,   256,  "resnet", 2.0, 0.9, 4.0, False),
    "paper512":  (512, 512,  32768,  512,  4,   256,  "resnet", 2.0, 0.9, 4.0, False),
    "paper1024": (512, 512,  32768,  512,  4,   256,  "resnet", 2.0, 0.9, 4.0, False),
    "cifar":     (512, 512,  32768,  512,  4,   256,  "orig",   0,   0,   4.0, False),
    "cpu32":     (64,  64,   2048,   128,  0,   256,  "resnet", 2.0, 0.9, 1,   True),
    "cpu64":     (64,  64,   4096,   128,  0,   256,  "resnet", 2.0, 0.9, 1,   True),
}
# fmt: on
for _name in CFG_SPECS:
    PRESETS.register(_name, Preset(*CFG_SPECS[_name], *NETWORK_SPECS[_name]))


def resolve_preset(name: str, *, resolution: int, gpus: int = 1) -> Preset:
    """Fill in the `auto` formulas of the reference for this resolution and GPU count."""
    preset = PRESETS.get(name)
    if name != "auto":
        return preset
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return dataclasses.replace(
        preset,
        ref_gpus=gpus,
        mb=mb,
        mbstd=min(mb // gpus, 4),
        fmaps=1 if resolution >= 512 else 0.5,
        lrate=0.002 if resolution >= 1024 else 0.0025,
        gamma=0.0002 * resolution**2 / mb,
        ema=mb * 10 / 32,
    )


def network_kwargs(preset: Preset, *, resolution: int, c_dim: int, img_channels: int = 3,
                   fp32: bool = False) -> tuple[dict, dict]:
    """G and D constructor kwargs as the reference's train.py builds them from a resolved preset."""
    channel_base = int(preset.fmaps * preset.channel_base_unit)
    num_fp16_res = 0 if fp32 else preset.num_fp16_res
    conv_clamp = None if fp32 else preset.conv_clamp
    G_kwargs = dict(z_dim=preset.z_dim, c_dim=c_dim, w_dim=preset.w_dim, img_resolution=resolution,
                    img_channels=img_channels, mapping_kwargs=dict(num_layers=preset.map),
                    synthesis_kwargs=dict(channel_base=channel_base, channel_max=preset.channel_max,
                                          num_fp16_res=num_fp16_res, conv_clamp=conv_clamp))
    D_kwargs = dict(c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
                    architecture=preset.d_architecture, channel_base=channel_base, channel_max=preset.channel_max,
                    num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, block_kwargs={}, mapping_kwargs={},
                    epilogue_kwargs=dict(mbstd_group_size=preset.mbstd))
    return G_kwargs, D_kwargs
