"""StyleGAN2 generator and discriminator (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN", with the conditioning of "Training Generative Adversarial Networks with Limited Data").

The constructors, state-dict keys, shapes and dtypes equal those of NVlabs' stylegan2-ada-pytorch
networks, so a reference snapshot's weights load with ``load_state_dict(strict=True)``; the arithmetic
is the same too (checked against golden outputs of the reference code in the tests).

Mixed precision: blocks in the top ``num_fp16_res`` resolutions run in a reduced dtype, chosen per block
by ``mixed_dtype`` (passed in ``synthesis_kwargs`` / D's ``block_kwargs``, like ``fp16_channels_last``, so a
config without it, e.g. a reference snapshot's, builds the float16 default). float16 runs only on CUDA; on
CPU those blocks run in float32, which is what the reference computes there as well. bfloat16 is an
explicit opt-in and runs on every device (see ``_block_dtype``). Parameters always stay float32.
"""

import math

import numpy as np
import torch
from torch import nn

from thygan.io.rebuild import NETWORKS  # filled here: files name these classes
from torch_utils.ops.bias_act import activation_funcs, bias_act
from torch_utils.ops.conv2d_resample import conv2d_resample
from torch_utils.ops.modulated_conv2d import modulated_conv2d
from torch_utils.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

DEFAULT_RESAMPLE_FILTER = (1, 3, 3, 1)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (the paper's pixel norm of z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


MIXED_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}  # mixed_dtype name -> compute dtype


def _mixed_dtype(name: str) -> torch.dtype:
    if name not in MIXED_DTYPES:
        raise ValueError(f"mixed_dtype must be one of {', '.join(MIXED_DTYPES)}, not {name!r}")
    return MIXED_DTYPES[name]


def _block_dtype(use_fp16: bool, force_fp32: bool, device: torch.device,
                 mixed_dtype: torch.dtype = torch.float16) -> torch.dtype:
    """The compute dtype of a block: float32 unless it is one of the top ``num_fp16_res`` resolutions.

    float16 runs only on CUDA: CPU float16 convolutions are slower than float32 and, with 5 exponent bits,
    overflow without care. bfloat16 has float32's exponent range, so it cannot overflow where float32 does
    not, and CPUs with AVX512-BF16/AMX run its convolutions natively (3x float32 on the dev machine); it is
    never the default, so running it on CPU only happens when a user asked for it (force_fp32 still wins).
    """
    if not use_fp16 or force_fp32:
        return torch.float32
    if mixed_dtype == torch.bfloat16 or device.type == "cuda":
        return mixed_dtype
    return torch.float32


def _memory_format(dtype: torch.dtype, channels_last: bool) -> torch.memory_format:
    # channels_last pays off with the tensor-core kernels of the reduced dtypes only (the reference's --nhwc).
    return torch.channels_last if channels_last and dtype != torch.float32 else torch.contiguous_format


class _RecordsInitKwargs(nn.Module):
    """Keeps the constructor keyword arguments so checkpoints can rebuild the module without code."""

    def _record(self, **kwargs) -> None:
        self.init_kwargs = dict(kwargs)


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalized learning rate: weights stored as N(0, 1/lr_mul), scaled at run time."""

    def __init__(self, in_features, out_features, *, bias=True, activation="linear", lr_multiplier=1.0,
                 bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional FIR up/downsampling, bias, activation, clamp."""

    def __init__(self, in_channels, out_channels, kernel_size, *, bias=True, activation="linear", up=1,
                 down=1, resample_filter=DEFAULT_RESAMPLE_FILTER, conv_clamp=None, channels_last=False,
                 trainable=True):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)
        self.act_gain = activation_funcs[activation].def_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)
        bias_tensor = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_tensor) if bias else None
        else:  # Freeze-D: frozen layers are buffers so the optimizer never sees them
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_tensor)

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1))
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class MappingNetwork(_RecordsInitKwargs):
    """z (+ class embedding) -> w, broadcast to ``num_ws`` copies; tracks w_avg for truncation."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None, layer_features=None,
                 activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self._record(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                     embed_features=embed_features, layer_features=layer_features, activation=activation,
                     lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if embed_features is None else embed_features
        embed_features = 0 if c_dim == 0 else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=False):
        """z: [N, z_dim], c: [N, c_dim] one-hot -> ws: [N, num_ws, w_dim] (or [N, w_dim] if num_ws is None)."""
        x = normalize_2nd_moment(z.to(torch.float32)) if self.z_dim > 0 else None
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.w_avg_beta is not None and self.training and not skip_w_avg_update:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = self.truncate(x, truncation_psi, truncation_cutoff)
        return x

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """Pull ws toward w_avg (the truncation trick); only the first ``cutoff`` ws when given."""
        if self.w_avg_beta is None:
            raise ValueError("truncation needs a mapping network that tracks w_avg")
        if self.num_ws is None or cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling) + per-pixel noise + bias + lrelu."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, use_noise=True,
                 activation="lrelu", resample_filter=DEFAULT_RESAMPLE_FILTER, conv_clamp=None,
                 channels_last=False):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = activation_funcs[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def _noise(self, x: torch.Tensor, noise_mode: str, noise_generators) -> torch.Tensor | None:
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be random, const or none, not {noise_mode!r}")
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "const":
            return self.noise_const * self.noise_strength
        shape = [1, 1, self.resolution, self.resolution]
        if noise_generators is None:
            noise = torch.randn([x.shape[0], *shape[1:]], device=x.device)
        else:  # one generator per sample: sample k's noise does not depend on the batch it is in
            noise = torch.cat([torch.randn(shape, generator=g, device=g.device) for g in noise_generators])
            noise = noise.to(x.device)
        return noise * self.noise_strength

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1, noise_generators=None):
        """noise_generators: optional list of N torch.Generator, for batch-independent random noise."""
        styles = self.affine(w)
        noise = self._noise(x, noise_mode, noise_generators)
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up,
                             padding=self.padding, resample_filter=self.resample_filter,
                             flip_weight=(self.up == 1), fused_modconv=fused_modconv)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain,
                        clamp=act_clamp)


class ToRGBLayer(nn.Module):
    """1x1 modulated convolution to image channels, without demodulation."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const or upsampling conv0) + conv1 (+ toRGB)."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, architecture="skip",
                 resample_filter=DEFAULT_RESAMPLE_FILTER, conv_clamp=None, use_fp16=False,
                 fp16_channels_last=False, *, mixed_dtype="float16", **layer_kwargs):
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"synthesis architecture must be orig, skip or resnet, not {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.mixed_dtype = _mixed_dtype(mixed_dtype)  # dtype of this block when use_fp16 (see _block_dtype)
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        common = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp, channels_last=self.channels_last)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, resample_filter=resample_filter,
                                        **common, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **common, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, **layer_kwargs):
        """ws: [N, num_conv + num_torgb, w_dim]. Returns features and the running RGB image (float32)."""
        w_iter = iter(ws.unbind(dim=1))
        dtype = _block_dtype(self.use_fp16, force_fp32, ws.device, self.mixed_dtype)
        memory_format = _memory_format(dtype, self.channels_last)
        if fused_modconv is None:
            # The grouped-conv form pays off for inference on CUDA; on CPU the shared-weight form is
            # faster at every batch size (measured in benchmarks/generate.py), and training keeps it too.
            # Reduced dtypes (float16 and bfloat16 alike) keep the reference's batch-of-one rule.
            fused_modconv = (not self.training) and ws.device.type == "cuda" and (
                dtype == torch.float32 or ws.shape[0] == 1)
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=memory_format)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype, memory_format=memory_format)
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=np.sqrt(0.5), **layer_kwargs)
            x = y.add_(x)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(_RecordsInitKwargs):
    """ws -> image: one SynthesisBlock per resolution 4, 8, ..., img_resolution."""

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=0,
                 **block_kwargs):
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, not {img_resolution}")
        super().__init__()
        self._record(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                     channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res, **block_kwargs)
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim,
                                   resolution=res, img_channels=img_channels, is_last=is_last,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws, **block_kwargs):
        """ws: [N, num_ws, w_dim] -> img: [N, img_channels, R, R] float32, roughly in [-1, 1]."""
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # Consecutive blocks share one w: the toRGB of block k and conv0 of block k+1.
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, **block_kwargs)
        return img


@NETWORKS.register("Generator")
class Generator(_RecordsInitKwargs):
    """Mapping + synthesis: G(z, c) -> image."""

    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None,
                 synthesis_kwargs=None):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self._record(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                     img_channels=img_channels, mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs):
        """z: [N, z_dim], c: [N, c_dim] -> img: [N, C, R, R]. synthesis_kwargs: noise_mode, force_fp32, ..."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)


class DiscriminatorBlock(nn.Module):
    """One resolution of D: (fromRGB) + conv0 + downsampling conv1 (+ 1x1 residual skip)."""

    def __init__(self, in_channels, tmp_channels, out_channels, resolution, img_channels, first_layer_idx,
                 architecture="resnet", activation="lrelu", resample_filter=DEFAULT_RESAMPLE_FILTER,
                 conv_clamp=None, use_fp16=False, fp16_channels_last=False, freeze_layers=0, *,
                 mixed_dtype="float16"):
        if in_channels not in (0, tmp_channels):
            raise ValueError("DiscriminatorBlock in_channels must be 0 or tmp_channels")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"discriminator architecture must be orig, skip or resnet, not {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.mixed_dtype = _mixed_dtype(mixed_dtype)  # dtype of this block when use_fp16 (see _block_dtype)
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_layers = 0

        def next_trainable() -> bool:
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return trainable

        common = dict(activation=activation, conv_clamp=conv_clamp, channels_last=self.channels_last)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=next_trainable(),
                                       **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=next_trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, trainable=next_trainable(),
                                 resample_filter=resample_filter, **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=next_trainable(), resample_filter=resample_filter,
                                    channels_last=self.channels_last)

    def forward(self, x, img, force_fp32=False):
        dtype = _block_dtype(self.use_fp16, force_fp32, img.device if img is not None else x.device,
                             self.mixed_dtype)
        memory_format = _memory_format(dtype, self.channels_last)
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation across groups of samples as extra feature maps (Karras 2018)."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size is not None else N
        if N % G != 0:
            raise ValueError(f"minibatch-std: batch {N} is not divisible by group size {G}")
        F = self.num_channels
        # Sample n belongs to group n % (N // G); statistics are over the G members of each group.
        y = x.reshape(G, -1, F, C // F, H, W)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch-std, conv, fc, and the output (projected onto the class embedding if any)."""

    def __init__(self, in_channels, cmap_dim, resolution, img_channels, architecture="resnet", mbstd_group_size=4,
                 mbstd_num_channels=1, activation="lrelu", conv_clamp=None):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap, force_fp32=False):
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.fc(self.conv(x).flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            # Projection discriminator (Miyato & Koyama 2018), normalized by sqrt(cmap_dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


@NETWORKS.register("Discriminator")
class Discriminator(_RecordsInitKwargs):
    """D(img, c) -> logits [N, 1]."""

    def __init__(self, c_dim, img_resolution, img_channels, architecture="resnet", channel_base=32768,
                 channel_max=512, num_fp16_res=0, conv_clamp=None, cmap_dim=None, block_kwargs=None,
                 mapping_kwargs=None, epilogue_kwargs=None):
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, not {img_resolution}")
        super().__init__()
        block_kwargs = dict(block_kwargs or {})
        mapping_kwargs = dict(mapping_kwargs or {})
        epilogue_kwargs = dict(epilogue_kwargs or {})
        self._record(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                     architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                     num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                     block_kwargs=block_kwargs, mapping_kwargs=mapping_kwargs, epilogue_kwargs=epilogue_kwargs)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res],
                                       channels[res // 2], resolution=res, first_layer_idx=layer_idx,
                                       use_fp16=res >= fp16_resolution, **block_kwargs, **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs, **common)

    def forward(self, img, c, **block_kwargs):
        """img: [N, C, R, R] in [-1, 1], c: [N, c_dim] -> logits [N, 1] float32."""
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, **block_kwargs)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
