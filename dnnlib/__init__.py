"""Tiny generic utilities shared by every part of thygan: no torch, no domain knowledge."""

from dnnlib.easydict import EasyDict
from dnnlib.num_range import parse_num_range
from dnnlib.registry import Registry

__all__ = ["EasyDict", "Registry", "parse_num_range"]
