"""The classifier registry (timm-style: every entry ``constructor(num_classes, **kwargs)``), weight
files, feature extractors and the files a trained classifier is saved in.

Weight files read by ``--weights`` / ``--mdl_loc``:
- torchvision-format state dicts (``.pth``/``.pt``, read with ``weights_only=True``: nothing in the
  file is executed), also wrapped as ``{"state_dict": ...}`` or with DataParallel's ``module.``
  prefix (the study's saved models);
- plain safetensors state dicts, and thygan classifier checkpoints (``.safetensors`` + ``.json``).

Every key except the head must match the model (names and shapes); the head (``fc`` / ``_fc``) is
loaded when its shape fits and otherwise left freshly initialised, which is how ImageNet weights
(1000 classes) start a 2-class model.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dnnlib import Registry
from thygan.classify.efficientnet import EfficientNetLite0, imagenet_weights_path
from thygan.classify.resnet import RESNET_LAYOUTS, ResNet
from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint

MODELS = Registry("classifier")         # name -> constructor(num_classes, **kwargs) -> nn.Module
CLASSES = Registry("classifier class")  # class name stored in checkpoints -> nn.Module class
CLASSES.register("ResNet", ResNet)
CLASSES.register("EfficientNetLite0", EfficientNetLite0)
HEADS = ("fc", "_fc")                   # the final linear layer of each family


@dataclass(frozen=True)
class ModelEntry:
    """A registry entry: how to build the network and which weights it starts from by default."""

    build: Callable[..., nn.Module]
    default_weights: Callable[[], Path] | None = None  # offline pretrained weights, if any ship


def _resnet_entry(depth: int) -> ModelEntry:
    def build(num_classes: int, *, width: int = 64) -> nn.Module:
        return ResNet(depth=depth, num_classes=num_classes, width=width)
    return ModelEntry(build)


for _depth in RESNET_LAYOUTS:
    MODELS.register(f"resnet{_depth}", _resnet_entry(_depth))


def _build_efficientnet(num_classes: int, *, width: int = 64) -> nn.Module:
    if width != 64:
        raise UserError(f"--width: efficientnet_lite0 has a fixed width; got {width} (only resnets scale)")
    return EfficientNetLite0(num_classes=num_classes)


MODELS.register("efficientnet_lite0", ModelEntry(_build_efficientnet, imagenet_weights_path))


def head(model: nn.Module) -> nn.Linear:
    """The final linear layer."""
    for name in HEADS:
        if isinstance(getattr(model, name, None), nn.Linear):
            return getattr(model, name)
    raise TypeError(f"{type(model).__name__} has no classifier head ({' or '.join(HEADS)})")


def build_model(name: str, num_classes: int, weights: str | os.PathLike | None = None, *,
                width: int = 64) -> nn.Module:
    """Build registry entry ``name`` with ``num_classes`` outputs.

    Args:
        name: ``resnet18`` ... ``resnet152`` or ``efficientnet_lite0``.
        num_classes: Outputs of the head.
        weights: A weight file to start from (see module docstring); None = the entry's offline
            pretrained weights when it has some (efficientnet_lite0: ImageNet), else random
            initialisation; ``"none"`` = random initialisation always.
        width: First-stage channels of a ResNet (64 = standard).
    """
    entry = MODELS.lookup(name, lambda msg: UserError(f"--model_type: {msg}"))
    model = entry.build(num_classes, width=width)
    if weights is None and entry.default_weights is not None:
        weights = entry.default_weights()
    if weights is not None and str(weights).lower() != "none":
        load_pretrained(model, read_state_dict(weights), source=str(weights))
    return model


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a .pth/.pt, a plain .safetensors or a thygan classifier checkpoint."""
    path = Path(path)
    stem_json = path.with_suffix(".json")
    if path.suffix == ".json" or (path.suffix == ".safetensors" and stem_json.is_file()):
        return read_classifier(path).model.state_dict()
    if not path.is_file():
        raise UserError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own types for damaged files
            raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
        if any(key.startswith("model.") for key in state):
            return read_classifier(path).model.state_dict()
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling errors come in many types
            raise UserError(f"{path}: not a readable torch state dict ({' '.join(str(exc).split())[:200]})") \
                from None
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path}: expected a state dict of tensors")
    # nn.DataParallel / DDP save their wrapped module's keys behind 'module.' (the study's files).
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_pretrained(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> list[str]:
    """Copy ``state`` into ``model``: strict on every key but the head; returns skipped head keys."""
    head_keys = {key for key in model.state_dict() if key.split(".")[0] in HEADS}
    expected = model.state_dict()
    missing = [key for key in expected if key not in state and key not in head_keys]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        what = f"missing '{missing[0]}' ({len(missing)} in all)" if missing else \
            f"unexpected '{unexpected[0]}' ({len(unexpected)} in all)"
        raise UserError(f"{source}: does not fit {type(model).__name__}{_describe_kwargs(model)}: {what}; "
                        f"is --model_type (or --width) the one the weights were made for?")
    for key, value in state.items():
        if key not in head_keys and value.shape != expected[key].shape:
            raise UserError(f"{source}: tensor '{key}' is {list(value.shape)}, the model expects "
                            f"{list(expected[key].shape)} (another --model_type or --width?)")
    skipped = [key for key in head_keys if key not in state or state[key].shape != expected[key].shape]
    kept = {key: value for key, value in state.items() if key not in skipped}
    model.load_state_dict({**expected, **kept}, strict=True)
    return skipped


def _describe_kwargs(model: nn.Module) -> str:
    kwargs = getattr(model, "init_kwargs", {})
    return "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")" if kwargs else ""


class _Features(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.features(x)


def feature_extractor(model: nn.Module) -> nn.Module:
    """A module mapping ``x: [N, 3, H, W]`` (ImageNet-normalised) to pooled features ``[N, D]``.

    It shares the classifier's parameters (no copy); D is 512 * expansion for a ResNet (2048 for
    resnet50 at width 64) and 1280 for efficientnet_lite0.
    """
    model = getattr(model, "module", model)  # unwrap DataParallel / DDP
    if not hasattr(model, "features"):
        raise TypeError(f"{type(model).__name__} has no features(); build it with build_model")
    return _Features(model)


@dataclass
class LoadedClassifier:
    """A trained classifier and what its file says about it."""

    model: nn.Module
    model_type: str
    class_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def save_classifier(path: str | os.PathLike, model: nn.Module, *, model_type: str,
                    class_names: list[str] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a thygan checkpoint (``.safetensors`` + ``.json``); returns the ``.safetensors`` path."""
    model = getattr(model, "module", model)
    weights, _ = save_checkpoint(path, networks={"model": model}, class_names=class_names, registry=CLASSES,
                                 extra={"model_type": model_type, **(extra or {})})
    return weights


def read_classifier(path: str | os.PathLike, *, model_type: str | None = None) -> LoadedClassifier:
    """Load a trained classifier: a thygan checkpoint, or a state dict (.pth, e.g. the study's
    ``vl_0.2983.pth``) together with ``model_type``; classes and width are read off its tensors.
    """
    path = Path(path)
    if path.suffix in (".safetensors", ".json") and checkpoint_paths(path)[0].is_file():
        try:
            loaded = load_checkpoint(path, registry=CLASSES)
        except UserError:
            if path.suffix == ".json" or checkpoint_paths(path)[1].is_file():
                raise
            loaded = None  # a plain safetensors state dict: read below like a .pth
        if loaded is not None:
            if "model" not in loaded.networks:
                raise UserError(f"{path}: holds no classifier ('model'); is it a GAN checkpoint?")
            stored = loaded.meta.get("extra", {}).get("model_type", "unknown")
            if model_type is not None and stored != model_type:
                print(f"note: {path.name} holds a {stored}; --model_type {model_type} is ignored")
            return LoadedClassifier(loaded.networks["model"], stored, loaded.class_names, loaded.meta)
    model_type = model_type or "resnet101"
    state = read_state_dict(path)
    head_weight = next((state[f"{name}.weight"] for name in HEADS if f"{name}.weight" in state), None)
    if head_weight is None:
        raise UserError(f"{path}: no classifier head (fc.weight or _fc.weight) in the state dict")
    width = int(state["conv1.weight"].shape[0]) if "conv1.weight" in state else 64
    model = build_model(model_type, int(head_weight.shape[0]), weights="none", width=width)
    load_pretrained(model, state, source=str(path))
    return LoadedClassifier(model.eval(), model_type)


def load_classifier(path: str | os.PathLike, *, model_type: str | None = None) -> nn.Module:
    """The model of :func:`read_classifier`, in eval mode on the CPU."""
    return read_classifier(path, model_type=model_type).model.eval()
