"""thygan checkpoints: ``name.safetensors`` (tensors) + ``name.json`` (what to build them into).

Tensors are stored as ``<group>.<key>``: each network's state dict under its name ('G.mapping.fc0.weight')
and any extra groups alike ('G_opt.state.0.exp_avg', 'augment_pipe.p'). The JSON says which groups are
networks (registry class name + constructor kwargs) and carries the rest of the metadata. The same JSON
text is mirrored into the safetensors header under 'thygan', so a lone .safetensors still loads.
Loading never executes anything from the file: classes come from our registry, by name.
"""

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

import thygan
from dnnlib import Registry
from thygan.errors import UserError
from thygan.io.atomic import atomic_path, atomic_write_text
from thygan.io.rebuild import LoadedNetworks, build_network, default_registry, fill_network, registry_name

FORMAT = "thygan-checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "thygan"             # safetensors header entry that mirrors the JSON
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # no '.', so '<group>.<key>' splits unambiguously


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``run/net``, ``run/net.safetensors`` or ``run/net.json`` -> (run/net.safetensors, run/net.json)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(path: str | Path, *, networks: Mapping[str, nn.Module],
                    extra_tensors: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
                    class_names: list[str] | None = None, training_options: dict[str, Any] | None = None,
                    cur_nimg: int | None = None, extra: dict[str, Any] | None = None,
                    registry: Registry | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` then ``<stem>.json``, each atomically.

    Args:
        path: The stem, or either file name.
        networks: e.g. {'G': G, 'D': D, 'G_ema': G_ema}; any subset. Each class must be in ``registry``
            and have ``init_kwargs`` (a JSON-able dict that rebuilds it).
        extra_tensors: Further tensor groups, {group: {key: tensor}} (optimizer state, RNG states, ...).
        class_names: Label names in class-index order.
        training_options: The resolved training options.
        cur_nimg: Real images shown to D so far; kimg is stored beside it.
        extra: Anything else JSON-able.
        registry: Where network classes are looked up
            (default: thygan.io.rebuild.NETWORKS, filled by thygan.stylegan).

    Returns:
        (safetensors path, json path).
    """
    if networks:
        registry = registry or default_registry()
    weights_path, json_path = checkpoint_paths(path)
    extra_tensors = dict(extra_tensors or {})
    groups = list(networks) + list(extra_tensors)
    for name in groups:
        if not _GROUP_NAME.match(name) or groups.count(name) > 1:
            raise ValueError(f"checkpoint group names must be unique identifiers without '.', got '{name}'")
    tensors = {}
    for name, net in networks.items():
        tensors.update(_flatten(name, net.state_dict()))
    for name, group in extra_tensors.items():
        tensors.update(_flatten(name, group))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "thygan_version": thygan.__version__,
        "networks": {name: {"class": registry_name(registry, net), "kwargs": net.init_kwargs}
                     for name, net in networks.items()},
        "tensor_groups": list(extra_tensors),
        "class_names": None if class_names is None else list(class_names),
        "training_options": training_options or {},
        "cur_nimg": None if cur_nimg is None else int(cur_nimg),
        "kimg": None if cur_nimg is None else int(cur_nimg) / 1000,
        "extra": extra or {},
    }
    text = json.dumps(meta, indent=2) + "\n"
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_path) as tmp:
        mode = stat.S_IMODE(tmp.stat().st_mode)
        save_file(tensors, str(tmp), metadata={METADATA_KEY: text})
        os.chmod(tmp, mode)  # safetensors replaces the file with a private (0600) one; keep the umask's mode
        # A stale JSON beside new weights would describe the wrong tensors; without it the new
        # .safetensors describes itself, so an interruption before the JSON lands still loads correctly.
        json_path.unlink(missing_ok=True)
    atomic_write_text(json_path, text)
    return weights_path, json_path


def _flatten(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors wants contiguous CPU tensors that share no storage: give it private copies."""
    return {f"{prefix}.{key}": t.detach().to("cpu", copy=True).contiguous() for key, t in tensors.items()}


def load_checkpoint(path: str | Path, *, registry: Registry | None = None) -> LoadedNetworks:
    """Read a checkpoint written by ``save_checkpoint`` and rebuild its networks (CPU, eval mode).

    Args:
        path: The stem or either file; the JSON is optional (the safetensors header mirrors it).
        registry: Where network classes are looked up
            (default: thygan.io.rebuild.NETWORKS, filled by thygan.stylegan).

    Raises:
        UserError: naming the file and what was expected, for anything wrong with the files.
    """
    weights_path, json_path = checkpoint_paths(path)
    if not weights_path.is_file():
        raise UserError(f"{weights_path}: no such file (expected the weights of the checkpoint {path})")
    meta, meta_source = _read_meta(weights_path, json_path)
    try:
        tensors = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types for damaged headers and data
        raise UserError(f"{weights_path}: not a readable safetensors file ({_one_line(exc)})") from None
    groups = _split_groups(tensors, list(meta["networks"]) + list(meta["tensor_groups"]), weights_path)
    if meta["networks"]:
        registry = registry or default_registry()  # only now: a file of extra tensors needs no networks
    networks = {}
    for name, spec in meta["networks"].items():
        net = build_network(registry, spec["class"], spec["kwargs"], what=name, source=meta_source)
        networks[name] = fill_network(net, groups[name], what=name, source=weights_path)
    extra_tensors = {name: groups[name] for name in meta["tensor_groups"]}
    return LoadedNetworks(networks=networks, meta=meta, extra_tensors=extra_tensors,
                          weights_file=weights_path)


def _read_meta(weights_path: Path, json_path: Path) -> tuple[dict[str, Any], Path]:
    """The JSON if present, else the copy in the safetensors header; returns (meta, file it came from)."""
    if json_path.is_file():
        source, text = json_path, _read_text(json_path)
    else:
        source = weights_path
        try:
            with safe_open(str(weights_path), framework="pt") as f:
                text = (f.metadata() or {}).get(METADATA_KEY)
        except Exception as exc:  # damaged header
            raise UserError(f"{weights_path}: not a readable safetensors file ({_one_line(exc)})") from None
        if text is None:
            raise UserError(f"{weights_path}: no '{METADATA_KEY}' metadata and no {json_path.name} beside it "
                            f"(expected a checkpoint written by thygan)")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: not valid JSON ({exc})") from None
    _check_meta(meta, source)
    return meta, source


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None


def _check_meta(meta: Any, source: Path) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{source}: expected thygan checkpoint metadata (\"format\": \"{FORMAT}\")")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise UserError(f"{source}: format_version {meta.get('format_version')!r} is not supported "
                        f"(this thygan {thygan.__version__} reads up to {FORMAT_VERSION}; upgrade thygan)")
    networks = meta.get("networks")
    if not isinstance(networks, dict) or not all(
            isinstance(s, dict) and isinstance(s.get("class"), str) and isinstance(s.get("kwargs"), dict)
            for s in networks.values()):
        raise UserError(f"{source}: 'networks' must map names to {{\"class\": str, \"kwargs\": {{...}}}}")
    groups = meta.get("tensor_groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise UserError(f"{source}: 'tensor_groups' must be a list of names")
    meta["tensor_groups"] = groups
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise UserError(f"{source}: 'class_names' must be null or a list of strings")


def _split_groups(tensors: dict[str, torch.Tensor], names: list[str],
                  weights_path: Path) -> dict[str, dict[str, torch.Tensor]]:
    groups: dict[str, dict[str, torch.Tensor]] = {name: {} for name in names}
    for key, t in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in groups or not rest:
            raise UserError(f"{weights_path}: unexpected tensor '{key}' (expected names starting with one "
                            f"of: {', '.join(n + '.' for n in names)})")
        groups[prefix][rest] = t
    return groups
