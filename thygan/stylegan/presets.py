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
    z_dim: int = 512         # latent size
    w_dim: int = 512         # intermediate latent size
    channel_base_unit: int = 32768  # channels at resolution r = min(fmaps * unit // r, channel_max)
    channel_max: int = 512   # widest layer
    num_fp16_res: int = 4    # top resolutions in reduced precision (fp16 on CUDA, or bf16 by --precision)
    conv_clamp: int | None = 256  # activation clamp for the reduced-precision layers
    d_architecture: str = "resnet"  # discriminator architecture
    pl_weight: float = 2.0   # path-length regularization weight
    style_mixing_prob: float = 0.9  # probability of mixing two latents
    kimg_per_tick: float = 4.0  # progress-report interval, kimg
    cpu: bool = False        # a preset sized for CPU (tests, demo)


# The reference's cfg_specs (stylegan2-ada-pytorch train.py); -1 marks values computed by `auto`.
PRESETS.register("auto", Preset(ref_gpus=-1, kimg=25000, mb=-1, mbstd=-1, fmaps=-1, lrate=-1, gamma=-1, ema=-1,
                                ramp=0.05, map=2))
PRESETS.register("stylegan2", Preset(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10,
                                     ramp=None, map=8))
PRESETS.register("paper256", Preset(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1,
                                    ema=20, ramp=None, map=8))
PRESETS.register("paper512", Preset(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5,
                                    ema=20, ramp=None, map=8))
PRESETS.register("paper1024", Preset(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10,
                                     ramp=None, map=8))
PRESETS.register("cifar", Preset(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01,
                                 ema=500, ramp=0.05, map=2, d_architecture="orig", pl_weight=0,
                                 style_mixing_prob=0))
# thygan's CPU presets: narrow networks (the golden `cond32` width) that learn colour and coarse
# texture in minutes on 2 cores. Not for publication-quality images.
PRESETS.register("cpu32", Preset(ref_gpus=1, kimg=20, mb=8, mbstd=4, fmaps=1, lrate=0.0025, gamma=0.05, ema=1,
                                 ramp=0.05, map=2, z_dim=64, w_dim=64, channel_base_unit=2048, channel_max=128,
                                 num_fp16_res=0, kimg_per_tick=1, cpu=True))
PRESETS.register("cpu64", Preset(ref_gpus=1, kimg=20, mb=8, mbstd=4, fmaps=1, lrate=0.0025, gamma=0.2, ema=1,
                                 ramp=0.05, map=2, z_dim=64, w_dim=64, channel_base_unit=4096, channel_max=128,
                                 num_fp16_res=0, kimg_per_tick=1, cpu=True))


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
