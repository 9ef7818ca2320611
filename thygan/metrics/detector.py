"""What every feature detector (Inception for FID/KID/IS, VGG16 for precision/recall) shares: uint8
input handling, a content identity for the statistics cache, and the "unavailable" error.

A detector's ``identity`` is the SHA-256 of its weights, so cached real-set statistics are reused
only with the very same network, whatever the file is called or where it lives.
"""

import hashlib
import inspect
import warnings
from pathlib import Path

import numpy as np
import torch

from thygan.errors import UserError
from thygan.io.digest import file_sha256  # noqa: F401 - detectors are identified by it (inception, vgg16)


class MetricUnavailable(UserError):
    """A metric cannot be computed here (missing weights, no classifier head); the message says why
    and what to pass. Never replaced by a number from a stand-in network."""


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over a module's class name and state (for detectors built in memory, e.g. in tests)."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_torchscript(path: str | Path, *, what: str) -> torch.jit.ScriptModule:
    """``torch.jit.load`` on CPU, turning a missing or unreadable file into a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what}: no such file '{path}' (expected a TorchScript detector .pt)")
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript, but the detectors ship as TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # torch raises RuntimeError/ValueError/zipfile errors for non-TorchScript files
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{what}: '{path}' is not a TorchScript file ({message})") from None


def argument_names(fn) -> list[str]:
    """Parameter names of a module's forward, for TorchScript methods and plain Python alike."""
    schema = getattr(fn, "schema", None)
    if schema is not None:
        return [arg.name for arg in schema.arguments if arg.name != "self"]
    return list(inspect.signature(fn).parameters)


def as_rgb_uint8(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """images: [N, C, H, W] uint8 with C = 1 or 3 -> [N, 3, H, W] uint8 on ``device``.

    Grayscale is repeated to three channels, as the reference does before Inception.
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images [N, C, H, W], got {images.dtype} {list(images.shape)}")
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if images.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")
    return images.to(device)
