"""The --device choice shared by every command: auto | cpu | cuda."""

import torch

from thygan.errors import UserError


def pick_device(name: str) -> torch.device:
    """'auto' means CUDA when available; asking for CUDA without one is a user error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device: cuda was asked for but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
