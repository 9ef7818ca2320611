"""Tiny networks shaped like the real ones where the io code cares: nested modules, a None parameter,
persistent and non-persistent buffers, numpy attributes, and ``init_kwargs`` that rebuild them."""

import numpy as np
import torch
from torch import nn

from dnnlib import Registry


class TinyLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, *, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_features, in_features]))
        self.bias = nn.Parameter(torch.randn([out_features])) if bias else None
        self.weight_gain = np.float64(1 / np.sqrt(in_features))  # the reference keeps such numpy scalars

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x @ (self.weight * self.weight_gain).t()
        return x if self.bias is None else x + self.bias


class TinyNet(nn.Module):
    def __init__(self, *, in_features: int = 4, width: int = 6, block_kwargs: dict | None = None):
        super().__init__()
        block_kwargs = dict(block_kwargs or {})
        self.init_kwargs = dict(in_features=in_features, width=width, block_kwargs=block_kwargs)
        self.register_buffer("w_avg", torch.randn([width]))
        self.register_buffer("scratch", torch.ones([3]), persistent=False)
        self.fc0 = TinyLayer(in_features, width)
        self.block = nn.Module()
        self.block.affine = TinyLayer(width, width, bias=block_kwargs.get("bias", False))
        self.block.register_buffer("noise_const", torch.randn([2, 2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block.affine(torch.relu(self.fc0(x))) + self.w_avg


class TinyGenerator(TinyNet):
    pass


class TinyDiscriminator(TinyNet):
    pass


def tiny_registry() -> Registry:
    """A registry with the reference's class names, as thygan.stylegan.networks.NETWORKS has."""
    registry = Registry("network")
    registry.register("Generator", TinyGenerator)
    registry.register("Discriminator", TinyDiscriminator)
    return registry
