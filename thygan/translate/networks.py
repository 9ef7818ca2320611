"""CycleGAN / pix2pix networks: ResNet and U-Net generators, PatchGAN and pixel discriminators.

Papers: Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(ICCV 2017), and Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR
2017). The module trees (``nn.Sequential`` indices included) match junyanz/pytorch-CycleGAN-and-pix2pix
``models/networks.py`` so its ``{epoch}_net_G_A.pth`` / ``latest_net_G.pth`` state dicts load with
``strict=True`` (keys and shapes in tests/translate/data/cyclegan_keys.json). Two quirks of the reference
are kept because the layouts depend on them: convolutions carry a bias only with instance norm (batch norm
has its own shift, and ``norm='none'`` has no bias at all), and the final layers always have one.

Every class takes keyword-only hyperparameters and keeps them in ``init_kwargs`` so a checkpoint can
rebuild it by registry name (thygan.io.checkpoint).
"""

import torch
from torch import nn

from dnnlib import Registry
from thygan.errors import UserError

TRANSLATE_NETWORKS = Registry("translation network")
NORMS = ("instance", "batch", "none")
GENERATORS = {  # --netG -> (class name, fixed kwargs)
    "resnet_9blocks": ("ResnetGenerator", {"n_blocks": 9}),
    "resnet_6blocks": ("ResnetGenerator", {"n_blocks": 6}),
    "unet_256": ("UnetGenerator", {"num_downs": 8}),
    "unet_128": ("UnetGenerator", {"num_downs": 7}),
}
DISCRIMINATORS = ("basic", "n_layers", "pixel")  # --netD; basic = n_layers with n_layers_D=3 (70x70 PatchGAN)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The reference's norms: InstanceNorm without affine or running stats, BatchNorm with both."""
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "none":
        return nn.Identity()  # keeps the Sequential indices of the other norms
    raise ValueError(f"norm: expected one of {', '.join(NORMS)}, got '{norm}'")


def _pad(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    """(padding modules, conv padding) for 'reflect' | 'replicate' | 'zero'."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding_type == "zero":
        return [], size
    raise ValueError(f"padding_type: expected reflect, replicate or zero, got '{padding_type}'")


class ResnetBlock(nn.Module):
    """x + conv_block(x); conv_block = pad, conv3, norm, ReLU, [dropout], pad, conv3, norm."""

    def __init__(self, *, dim: int, norm: str, use_dropout: bool, padding_type: str):
        super().__init__()
        bias = norm == "instance"
        pad, p = _pad(padding_type, 1)
        layers = pad + [nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type, 1)
        layers += pad + [nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


@TRANSLATE_NETWORKS.register("ResnetGenerator")
class ResnetGenerator(nn.Module):
    """c7s1-64, two stride-2 downsamplings, ``n_blocks`` residual blocks, two transposed-conv upsamplings,
    c7s1-out, tanh (Johnson et al. 2016, as CycleGAN's appendix). img: [N, input_nc, H, W] in [-1, 1]
    with H, W multiples of 4 -> [N, output_nc, H, W] in [-1, 1]."""

    def __init__(self, *, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect"):
        super().__init__()
        self.init_kwargs = dict(input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm,
                                use_dropout=use_dropout, n_blocks=n_blocks, padding_type=padding_type)
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(dim=ngf * 4, norm=norm, use_dropout=use_dropout, padding_type=padding_type)
                   for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img)


class UnetSkipBlock(nn.Module):
    """One U-Net level: down (LeakyReLU, conv4 s2, norm), the inner levels, up (ReLU, deconv4 s2, norm,
    [dropout]); the output is concat(input, up) except at the outermost level (tanh output)."""

    def __init__(self, *, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        downconv = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), up, norm_layer(norm, outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc), submodule,
                      nn.ReLU(True), up, norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@TRANSLATE_NETWORKS.register("UnetGenerator")
class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels (8 for 256 px, 7 for 128 px; the input side must be a
    multiple of 2**num_downs). img: [N, input_nc, H, W] in [-1, 1] -> [N, output_nc, H, W] in [-1, 1]."""

    def __init__(self, *, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs: the U-Net needs at least 5 levels, got {num_downs}")
        self.init_kwargs = dict(input_nc=input_nc, output_nc=output_nc, num_downs=num_downs, ngf=ngf, norm=norm,
                                use_dropout=use_dropout)
        block = UnetSkipBlock(outer_nc=ngf * 8, inner_nc=ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(outer_nc=ngf * 8, inner_nc=ngf * 8, submodule=block, norm=norm,
                                  use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(outer_nc=ngf * mult, inner_nc=ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(outer_nc=output_nc, inner_nc=ngf, input_nc=input_nc, submodule=block,
                                   outermost=True, norm=norm)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img)


@TRANSLATE_NETWORKS.register("NLayerDiscriminator")
class NLayerDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 conv4 layers (channels doubling up to 8*ndf), one stride-1 layer and
    a 1-channel conv4; with n_layers=3 each output sees a 70x70 patch. x: [N, input_nc, H, W] ->
    logits [N, 1, h, w]."""

    def __init__(self, *, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        self.init_kwargs = dict(input_nc=input_nc, ndf=ndf, n_layers=n_layers, norm=norm)
        bias = norm == "instance"
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@TRANSLATE_NETWORKS.register("PixelDiscriminator")
class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN (pixelGAN): judges each pixel's colour alone. x: [N, input_nc, H, W] -> [N, 1, H, W]."""

    def __init__(self, *, input_nc: int = 3, ndf: int = 64, norm: str = "instance"):
        super().__init__()
        self.init_kwargs = dict(input_nc=input_nc, ndf=ndf, norm=norm)
        bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_generator(netG: str, *, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                    use_dropout: bool = False) -> nn.Module:
    """The reference's ``define_G`` without the init (see ``init_weights``)."""
    if netG not in GENERATORS:
        raise UserError(f"--netG: expected one of {', '.join(GENERATORS)}, got '{netG}'")
    if norm not in NORMS:
        raise UserError(f"--norm: expected one of {', '.join(NORMS)}, got '{norm}'")
    class_name, fixed = GENERATORS[netG]
    cls = TRANSLATE_NETWORKS.get(class_name)
    return cls(input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout, **fixed)


def build_discriminator(netD: str, *, input_nc: int = 3, ndf: int = 64, n_layers_D: int = 3,
                        norm: str = "instance") -> nn.Module:
    """The reference's ``define_D`` without the init: basic | n_layers (``n_layers_D``) | pixel."""
    if netD == "basic":
        return NLayerDiscriminator(input_nc=input_nc, ndf=ndf, n_layers=3, norm=norm)
    if netD == "n_layers":
        return NLayerDiscriminator(input_nc=input_nc, ndf=ndf, n_layers=n_layers_D, norm=norm)
    if netD == "pixel":
        return PixelDiscriminator(input_nc=input_nc, ndf=ndf, norm=norm)
    raise UserError(f"--netD: expected one of {', '.join(DISCRIMINATORS)}, got '{netD}'")


def generator_name(G: nn.Module) -> str:
    """The --netG name a generator was built as (inverse of ``build_generator``)."""
    for name, (class_name, fixed) in GENERATORS.items():
        if type(G).__name__ == class_name and all(G.init_kwargs.get(k) == v for k, v in fixed.items()):
            return name
    raise ValueError(f"{type(G).__name__} with {G.init_kwargs} is not a --netG generator")


@torch.no_grad()
def init_weights(net: nn.Module, *, init_type: str = "normal", init_gain: float = 0.02,
                 generator: torch.Generator | None = None) -> nn.Module:
    """The reference's ``init_weights``: conv weights N(0, gain) (or xavier/kaiming/orthogonal), biases 0,
    BatchNorm weights N(1, gain) and biases 0. ``generator`` makes the draw reproducible."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight
            if init_type == "normal":
                w.normal_(0.0, init_gain, generator=generator)
            elif init_type == "xavier":
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
                w.normal_(0.0, init_gain * (2.0 / (fan_in + fan_out)) ** 0.5, generator=generator)
            elif init_type == "kaiming":
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(w)
                w.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
            elif init_type == "orthogonal":
                nn.init.orthogonal_(w, gain=init_gain, generator=generator)
            else:
                raise UserError(f"--init_type: expected normal, xavier, kaiming or orthogonal, got '{init_type}'")
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, init_gain, generator=generator)
            m.bias.zero_()
    return net
