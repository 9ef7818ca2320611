"""Feature extractors for the domain-gap analysis, registered by name.

Every entry is a loader ``load(*, weights, device) -> FeatureExtractor`` with the same signature
(timm-style), so the command line, the cache and the tests treat them alike. The network-backed
entries import their models lazily (the FID Inception from ``thygan.metrics.inception``, the
classifier backbones from ``thygan.classify.models``), so listing the registry costs nothing.

Two weight-free baselines are built in: ``colour-histogram`` (stain and brightness) and ``pixels``
(an 8 x 8 thumbnail, coarse layout). They run in milliseconds and make a useful floor: a gap that a
colour histogram already sees is a stain gap, not a morphology gap.
"""

from __future__ import annotations  # torch is imported lazily: listing the registry stays instant

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dnnlib import Registry
from thygan.errors import UserError
from thygan.io.digest import file_sha256

if TYPE_CHECKING:
    import torch

EXTRACTORS = Registry("feature extractor")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet channel statistics
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class FeatureExtractor:
    """A ready-to-use embedding function.

    Attributes:
        name: The registry name.
        identity: Everything the features depend on (name, version, weights digest); part of the
            embedding cache key, so new weights never reuse old features.
        embed: images [N, 3, H, W] uint8 on ``device`` -> features [N, D] float32.
        device: Where ``embed`` wants its input.
    """

    name: str
    identity: str
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device


def load_extractor(name: str, *, weights: str | None = None,
                   device: torch.device | str = "cpu") -> FeatureExtractor:
    """Build the extractor registered as ``name``.

    Args:
        name: A registry name (see ``EXTRACTORS.names()``).
        weights: A weights or checkpoint file, for the entries that take one.
        device: Where to run.

    Raises:
        UserError: unknown name, or a weights file that is missing or not accepted by the entry.
    """
    import torch

    loader = EXTRACTORS.lookup(name, lambda msg: UserError(f"--extractor: {msg}"))
    if weights is not None and not Path(weights).is_file():
        raise UserError(f"--weights: no such file '{weights}'")
    return loader(weights=weights, device=torch.device(device))


def weights_digest(path: str | os.PathLike) -> str:
    """First 16 hex digits of the SHA-256 of a weights file."""
    return file_sha256(path)[:16]


def _refuse_weights(name: str, weights: str | None) -> None:
    if weights is not None:
        raise UserError(f"--weights: the '{name}' extractor takes no weights file")


def colour_histogram(images: torch.Tensor, *, bins: int = 16) -> torch.Tensor:
    """images: [N, 3, H, W] uint8 -> [N, 3 * bins] float32, each channel's histogram summing to 1."""
    import torch

    assert 256 % bins == 0, "bins must divide 256 so that every bin spans the same number of levels"
    N, C = images.shape[:2]
    index = (images.to(torch.int64) // (256 // bins)).reshape(N, C, -1)
    counts = torch.zeros([N, C, bins], dtype=torch.float32, device=images.device)
    counts.scatter_add_(2, index, torch.ones_like(index, dtype=torch.float32))
    return (counts / index.shape[2]).reshape(N, C * bins)


def pixel_thumbnail(images: torch.Tensor, *, size: int = 8) -> torch.Tensor:
    """images: [N, 3, H, W] uint8 -> [N, 3 * size * size] float32 in [0, 1] (area-averaged thumbnail)."""
    import torch
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(images.to(torch.float32) / 255, size).flatten(1)


@EXTRACTORS.register("colour-histogram")
def _load_colour_histogram(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    _refuse_weights("colour-histogram", weights)
    return FeatureExtractor("colour-histogram", "colour-histogram:rgb16:v1", colour_histogram, device)


@EXTRACTORS.register("pixels")
def _load_pixels(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    _refuse_weights("pixels", weights)
    return FeatureExtractor("pixels", "pixels:area8:v1", pixel_thumbnail, device)


def _missing_module(name: str, module: str, exc: ImportError) -> UserError:
    return UserError(f"--extractor: '{name}' needs {module}, which cannot be imported here ({exc})")


def _module_embed(net: torch.nn.Module, *,
                  imagenet_input: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a network as an embed function: eval mode, no autograd, float32 output.

    Args:
        net: Takes the uint8 images as they are (the Inception detector), or float input.
        imagenet_input: Feed ``(x / 255 - mean) / std`` with ImageNet's statistics, the input the
            classifier backbones are trained on (the study's dlc_main normalises the same way).
    """
    import torch

    net.eval().requires_grad_(False)

    @torch.no_grad()
    def embed(images: torch.Tensor) -> torch.Tensor:
        x = images
        if imagenet_input:
            mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
            x = (images.to(torch.float32) / 255 - mean) / std
        return net(x).to(torch.float32).flatten(1)

    return embed


@EXTRACTORS.register("inception")
def _load_inception(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    """The FID Inception-v3 pool features (2048-d); weights default to the bundled TF-ported file."""
    try:
        from thygan.metrics.inception import load_inception
    except ImportError as exc:
        raise _missing_module("inception", "thygan.metrics.inception", exc) from None
    net = load_inception(weights, device=device)
    identity = "inception:" + net.identity[:16]
    return FeatureExtractor("inception", identity, _module_embed(net), device)


def _classifier_extractor(name: str, *, weights: str | None, device: torch.device) -> FeatureExtractor:
    """A downstream-classifier backbone's pooled features (thygan.classify.models)."""
    try:
        from thygan.classify.models import build_model, feature_extractor
    except ImportError as exc:
        raise _missing_module(name, "thygan.classify.models", exc) from None
    model = build_model(name, num_classes=2, weights=weights)
    net = feature_extractor(model).to(device)
    identity = f"{name}:" + (weights_digest(weights) if weights else "default")
    return FeatureExtractor(name, identity, _module_embed(net, imagenet_input=True), device)


@EXTRACTORS.register("resnet50")
def _load_resnet50(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    return _classifier_extractor("resnet50", weights=weights, device=device)


@EXTRACTORS.register("efficientnet_lite0")
def _load_efficientnet_lite0(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    return _classifier_extractor("efficientnet_lite0", weights=weights, device=device)


@EXTRACTORS.register("dlc")
def _load_dlc(*, weights: str | None, device: torch.device) -> FeatureExtractor:
    """A trained downstream classifier (dlc_main checkpoint): the features its head sees."""
    if weights is None:
        raise UserError("--weights: the 'dlc' extractor needs the trained model's checkpoint file")
    try:
        from thygan.classify.models import feature_extractor, load_classifier
    except ImportError as exc:
        raise _missing_module("dlc", "thygan.classify.models", exc) from None
    net = feature_extractor(load_classifier(weights)).to(device)
    embed = _module_embed(net, imagenet_input=True)
    return FeatureExtractor("dlc", "dlc:" + weights_digest(weights), embed, device)
