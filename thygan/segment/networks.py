"""HoVer-Net (Graham et al., "HoVer-Net: Simultaneous segmentation and classification of nuclei in
multi-tissue histology images", MedIA 2019), assembled from MONAI's HoVer-Net blocks.

At ``width=1`` with the default blocks the network is MONAI's ``monai.networks.nets.HoVerNet``: same module
names, same state dict, same parameter counts as the reference hover_net in its three published
configurations (tests/segment/test_networks.py loads MONAI's weights into it and compares outputs). It is
assembled here rather than instantiated because MONAI's class fixes the widths and refuses inputs other
than 256 / 270 px, and a CPU needs a narrow, shallower variant on smaller tiles for tests and quick checks.

Two choices follow the reference where MONAI differs:
- Upsampling is nearest-neighbour 2x (the reference's ``upsample2x`` is a Kronecker product with ones);
  MONAI uses bilinear interpolation. ``upsample='bilinear'`` reproduces MONAI.
- Input is RGB float in [0, 1]; the reference divides uint8 by 255 inside ``forward``, MONAI leaves scaling
  to the caller. Published weights expect exactly this scaling.

Modes: 'original' (kernel 5 decoders, valid 7x7 stem: 270 -> 80 px) and 'fast' (kernel 3, padded stem:
256 -> 164 px).
"""

from collections import OrderedDict
from typing import Any

import torch
from monai.networks.nets.hovernet import _DecoderBlock, _ResidualBlock
from torch import nn

from dnnlib import Registry

NETWORKS = Registry("segmentation network")
MODES = {"original": dict(kernel=5, stem_pad=0, input=270), "fast": dict(kernel=3, stem_pad=3, input=256)}


def _scaled(channels: int, width: float) -> int:
    return max(int(round(channels * width)), 1)


def _upsample(mode: str) -> nn.Upsample:
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {mode!r}")
    return nn.Upsample(scale_factor=2, mode=mode, align_corners=True if mode == "bilinear" else None)


def _set_stride(block: _ResidualBlock, stride: int) -> _ResidualBlock:
    """MONAI picks a residual group's stride from its input width (64 channels = the stride-1 first group),
    which only holds at full width; set it from the group's position instead. Strides and paddings are
    MONAI's own (1x1 shortcut padded by 1 and 3x3 padded by 2 when strided); no parameter changes."""
    first = block.layers.denselayer_0.layers.conv2
    block.shortcut.stride, block.shortcut.padding = (stride, stride), ((1, 1) if stride == 2 else (0, 0))
    first.stride, first.padding = (stride, stride), ((2, 2) if stride == 2 else (1, 1))
    return block


class _Decoder(nn.Module):
    """One HoVer-Net branch (u3, u2 dense blocks; u1 conv; u0 BN-ReLU-1x1), MONAI's layout, any width."""

    def __init__(self, *, out_channels: int, kernel: int, width: float, upsample: str):
        super().__init__()
        c_in, growth, inner = _scaled(1024, width), _scaled(32, width), _scaled(128, width)
        self.decoder_blocks = nn.Sequential(OrderedDict(
            (f"decoderblock{i + 1}", _DecoderBlock(layers=layers, num_features=inner, in_channels=c,
                                                   out_channels=growth, kernel_size=kernel))
            for i, (layers, c) in enumerate(((8, c_in), (4, c_in // 2)))))
        head_in, head = _scaled(256, width), _scaled(64, width)
        self.output_features = nn.Sequential(OrderedDict([
            ("decoderblock3", nn.Sequential(OrderedDict([
                ("conva", nn.Conv2d(head_in, head, kernel, padding=(kernel - 1) // 2, bias=False))]))),
            ("decoderblock4", nn.Sequential(OrderedDict([
                ("bn", nn.BatchNorm2d(head)), ("relu", nn.ReLU(inplace=True)),
                ("conv", nn.Conv2d(head, out_channels, 1))]))),
        ]))
        self.upsample = _upsample(upsample)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = x + skips[-1]
        for block, skip in zip(self.decoder_blocks, (skips[1], skips[0])):
            x = self.upsample(block(x))
            trim = (skip.shape[-1] - x.shape[-1]) // 2  # valid convolutions shrink x; centre-crop the skip
            x = x + (skip[..., trim:skip.shape[-2] - trim, trim:skip.shape[-1] - trim] if trim > 0 else skip)
        return self.output_features(x)


@NETWORKS.register("HoVerNet")
class HoVerNet(nn.Module):
    """HoVer-Net with NP, HV and optional TP branches.

    Args:
        mode: 'original' or 'fast' (geometry above).
        nr_types: Nucleus types including background for the TP branch; 0 = segmentation only.
        width: Channel multiplier (1 = the reference), the stem included.
        blocks: Residual units per encoder group (reference (3, 4, 6, 3)).
        upsample: 'nearest' (reference) or 'bilinear' (MONAI).
    """

    def __init__(self, *, mode: str = "fast", nr_types: int = 0, width: float = 1.0,
                 blocks: tuple[int, ...] | list[int] = (3, 4, 6, 3), upsample: str = "nearest"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
        if nr_types == 1 or nr_types < 0:
            raise ValueError(f"nr_types must be 0 (no type branch) or >= 2 (with background), got {nr_types}")
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must be four positive unit counts, got {blocks}")
        self.init_kwargs: dict[str, Any] = dict(mode=mode, nr_types=nr_types, width=width, blocks=list(blocks),
                                                upsample=upsample)
        self.mode, self.nr_types = mode, nr_types
        geometry = MODES[mode]
        self.conv0 = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(3, _scaled(64, width), 7, padding=geometry["stem_pad"], bias=False)),
            ("bn", nn.BatchNorm2d(_scaled(64, width))), ("relu", nn.ReLU(inplace=True))]))
        self.res_blocks = nn.Sequential()
        c_in = _scaled(64, width)
        for i, units in enumerate(blocks):
            c_out = _scaled(256 * 2 ** i, width)
            block = _ResidualBlock(layers=units, num_features=c_out // 4, in_channels=c_in, out_channels=c_out)
            self.res_blocks.add_module(f"d{i}", _set_stride(block, 1 if i == 0 else 2))
            c_in = c_out
        self.bottleneck = nn.Sequential(OrderedDict([("conv_bottleneck", nn.Conv2d(c_in, c_in // 2, 1, bias=False))]))
        self.upsample = _upsample(upsample)
        branch = dict(kernel=geometry["kernel"], width=width, upsample=upsample)
        self.nucleus_prediction = _Decoder(out_channels=2, **branch)
        self.horizontal_vertical = _Decoder(out_channels=2, **branch)
        self.type_prediction = _Decoder(out_channels=nr_types, **branch) if nr_types else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The stem and the residual groups: what phase 1 of training keeps frozen."""
        return [*self.conv0.parameters(), *self.res_blocks.parameters()]

    def output_size(self, input_size: int) -> int:
        """Output side for a square input side (valid convolutions shrink the map: 'fast' n -> n - 92 for n
        a multiple of 8, 'original' 270 -> 80).

        Raises:
            ValueError: the skip connections do not line up at this input size.
        """
        with torch.no_grad():
            x = torch.zeros(1, 3, input_size, input_size, device=next(self.parameters()).device)
            try:
                size = int(self.eval_copy_forward(x)["np"].shape[-1])
            except RuntimeError:
                size = 0
        if size < 1:
            raise ValueError(f"input size {input_size} does not fit mode '{self.mode}' (e.g. 256 or 128 for fast, "
                             f"270 for original)")
        return size

    def eval_copy_forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        training = self.training
        self.eval()
        try:
            return self(x)
        finally:
            self.train(training)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: [N, 3, H, W] float RGB in [0, 1] -> {'np': [N, 2, S, S], 'hv': [N, 2, S, S], 'tp': [N, T, S, S]}."""
        x = self.conv0(x)
        skips = []
        for i, block in enumerate(self.res_blocks):
            x = block(x)
            if i < 3:
                skips.append(x)
        x = self.upsample(self.bottleneck(x))
        out = {"np": self.nucleus_prediction(x, skips), "hv": self.horizontal_vertical(x, skips)}
        if self.type_prediction is not None:
            out["tp"] = self.type_prediction(x, skips)
        return out
