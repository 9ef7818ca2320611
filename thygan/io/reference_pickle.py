"""Import stylegan2-ada-pytorch network snapshots (``network-snapshot-NNNNNN.pkl``) without running them.

A reference snapshot is a pickle whose networks rebuild themselves by exec'ing Python source embedded in
the file (``torch_utils.persistence``). We unpickle with an allowlist instead: the persistence hook
becomes a function that returns its ``meta`` record untouched, tensors are rebuilt from their storages
(each storage is itself a ``torch.save`` stream, read with ``weights_only=True``), and every other global
is refused. The networks are then rebuilt by our own classes from ``class_name`` + ``_init_kwargs`` and
filled from the flattened ``_parameters`` / ``_buffers`` of the record tree. The byte-level layout is
described in shared/reference/stylegan2_ada_pkl.md.
"""

import hashlib
import io
import pickle
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnnlib import Registry
from dnnlib.run_dir import NETWORK_SNAPSHOT_PREFIX, parse_indexed_name
from thygan.errors import UserError
from thygan.io.checkpoint import save_checkpoint
from thygan.io.rebuild import LoadedNetworks, build_network, default_registry, fill_network

NETWORK_KEYS = ("G", "D", "G_ema")
REFERENCE_CLASSES = {"Generator": "Generator", "Discriminator": "Discriminator"}  # reference -> registry
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy")
_TYPED_STORAGES = ("FloatStorage", "HalfStorage", "DoubleStorage", "LongStorage", "IntStorage", "ByteStorage",
                   "BoolStorage")


@dataclass
class PersistentRecord:
    """What the reference's ``_reconstruct_persistent_obj`` receives, kept as data (its source is dropped)."""

    class_name: str
    state: dict[str, Any]  # the object's __dict__: _parameters, _buffers, _modules, _init_kwargs, ...


def _persistent_record(meta: Any) -> PersistentRecord:
    if not (isinstance(meta, dict) and meta.get("type") == "class" and isinstance(meta.get("class_name"), str)
            and isinstance(meta.get("state"), dict)):
        raise ValueError("a persistent object without the expected type/class_name/state record")
    return PersistentRecord(class_name=meta["class_name"], state=meta["state"])


def _rebuild_tensor(storage, storage_offset, size, stride) -> torch.Tensor:
    if not isinstance(storage, torch.storage.TypedStorage):
        raise ValueError(f"a tensor rebuilt from a {type(storage).__name__} instead of a storage")
    if not (isinstance(storage_offset, int) and all(isinstance(n, int) for n in (*size, *stride))):
        raise ValueError("a tensor with a malformed offset, size or stride")
    return torch._utils._rebuild_tensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> torch.Tensor:
    # Hooks are dropped (a snapshot never needs them) and conj/neg bits would change the values silently.
    if metadata:
        raise ValueError(f"a tensor with unsupported metadata {metadata!r}")
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.Tensor:
    # A plain tensor is all load_state_dict needs; the pickled attribute ``state`` is not applied.
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"a parameter wrapping a {type(data).__name__}")
    return data


def _load_storage_from_bytes(data: Any) -> torch.storage.TypedStorage:
    # torch's own _load_from_bytes unpickles these bytes without restriction; the weights-only reader doesn't.
    if not isinstance(data, bytes):
        raise ValueError("a storage that is not stored as bytes")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch explains in many lines; keep the one that names the cause
        lines = [line.strip() for line in str(exc).splitlines()]
        detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line),
                      type(exc).__name__)
        raise ValueError(f"a tensor storage that torch's weights-only reader refuses: {detail}") from None


def _numpy_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(spec, str):
        raise ValueError(f"a numpy dtype built from {type(spec).__name__}")
    return np.dtype(spec, align, copy)


def _numpy_scalar(dtype: Any, data: Any = None) -> np.generic:
    # Only plain numbers (weight_gain, act_gain, ...): object dtypes would unpickle arbitrary payloads.
    if not (isinstance(dtype, np.dtype) and dtype.kind in "biufc" and not dtype.hasobject
            and isinstance(data, bytes) and len(data) == dtype.itemsize):
        raise ValueError(f"a numpy scalar of dtype {dtype!r} that is not a plain number")
    return np.frombuffer(data, dtype=dtype)[0]


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
        ("dnnlib.util", "EasyDict"): dict,
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    }
    allowed.update({("torch", name): getattr(torch, name) for name in _TYPED_STORAGES})
    for module in _NUMPY_MODULES:
        allowed[(module, "dtype")] = _numpy_dtype
        allowed[(module, "scalar")] = _numpy_scalar
    return allowed


class SnapshotUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals a reference snapshot needs (see module docstring)."""

    def __init__(self, file, *, source: Path):
        super().__init__(file)
        self.source = source
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise UserError(f"{self.source}: refusing to load global {module}.{name}: a network snapshot needs "
                        f"only tensors, plain containers and StyleGAN2-ADA persistence records (this file "
                        f"would run other code when unpickled)")

    def persistent_load(self, pid: Any) -> Any:
        raise UserError(f"{self.source}: refusing a persistent id ({str(pid)[:40]}): not part of a network "
                        f"snapshot")


def read_snapshot_tree(path: str | Path) -> dict[str, Any]:
    """Unpickle a snapshot safely: a dict whose networks are ``PersistentRecord`` trees of plain data."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (expected a network-snapshot .pkl)")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # Snapshots store typed storages by design; torch's deprecation notice is not for the user.
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
            tree = SnapshotUnpickler(f, source=path).load()
    except UserError:
        raise
    except Exception as exc:  # truncated or damaged bytes surface as many different exception types
        detail = " ".join(str(exc).split())[:300]  # one line for the CLI
        raise UserError(f"{path}: not a readable network snapshot pickle "
                        f"({type(exc).__name__}: {detail})") from None
    if not isinstance(tree, dict) or not any(isinstance(tree.get(k), PersistentRecord) for k in NETWORK_KEYS):
        raise UserError(f"{path}: expected a dict holding networks G, D and G_ema (a StyleGAN2-ADA snapshot)")
    return tree


def flatten_record(record: PersistentRecord, *, source: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers along ``_modules`` paths, in ``nn.Module.state_dict`` order."""
    state = record.state
    skip = state.get("_non_persistent_buffers_set") or set()
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in _entries(state, group, source).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise UserError(f"{source}: {prefix}{name} is a {type(value).__name__}, expected a tensor")
            out[prefix + name] = value
    for name, child in _entries(state, "_modules", source).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise UserError(f"{source}: sub-module {prefix}{name} is a {type(child).__name__}, expected a "
                            f"persistent StyleGAN2-ADA module")
        out.update(flatten_record(child, source=source, prefix=f"{prefix}{name}."))
    return out


def _entries(state: dict[str, Any], group: str, source: Path) -> dict[str, Any]:
    entries = state.get(group) or {}
    if not isinstance(entries, dict) or not all(isinstance(k, str) for k in entries):
        raise UserError(f"{source}: '{group}' of a module is not a name -> value mapping")
    return entries


def _plain(value: Any, *, source: Path, what: str) -> Any:
    """kwargs as JSON-able builtins (EasyDict is already dict; numpy scalars and tuples become builtins)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, source=source, what=what) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, source=source, what=what) for k, v in value.items()}
    raise UserError(f"{source}: {what} holds a {type(value).__name__}; expected numbers, strings, lists, "
                    f"dicts")


def _init_kwargs(record: PersistentRecord, *, source: Path, what: str) -> dict[str, Any]:
    if record.state.get("_init_args"):
        raise UserError(f"{source}: {what} was built with positional arguments; expected keyword "
                        f"arguments only")
    kwargs = record.state.get("_init_kwargs")
    if not isinstance(kwargs, dict):
        raise UserError(f"{source}: {what} has no _init_kwargs record; expected a StyleGAN2-ADA snapshot")
    return _plain(kwargs, source=source, what=f"{what} _init_kwargs")


def snapshot_kimg(path: str | Path) -> int | None:
    """kimg from the reference's file name ``network-snapshot-000400.pkl``; None for other names."""
    path = Path(path)
    kimg = parse_indexed_name(path.name, NETWORK_SNAPSHOT_PREFIX) if path.suffix == ".pkl" else None
    return None if kimg is None else int(kimg)


def load_reference_pickle(path: str | Path, *, registry: Registry | None = None) -> LoadedNetworks:
    """Rebuild G, D, G_ema of a reference snapshot with our classes (CPU, eval mode); nothing is executed.

    Args:
        path: A ``network-snapshot-NNNNNN.pkl`` from stylegan2-ada-pytorch.
        registry: Where network classes are looked up (default: thygan.stylegan.networks.NETWORKS).

    Returns:
        The networks; ``extra_tensors['augment_pipe']`` holds the ADA buffers (p, Hz_geom, Hz_fbank) and
        ``meta`` the fields of a thygan checkpoint (kwargs, kimg from the file name, training_set_kwargs
        and the augment pipe's class and kwargs under 'extra').
    """
    path = Path(path)
    tree = read_snapshot_tree(path)  # first: a hostile file is refused before anything else is imported
    registry = registry or default_registry()
    networks, specs = {}, {}
    for key in NETWORK_KEYS:
        record = tree.get(key)
        if record is None:
            continue
        if not isinstance(record, PersistentRecord) or record.class_name not in REFERENCE_CLASSES:
            found = record.class_name if isinstance(record, PersistentRecord) else type(record).__name__
            raise UserError(f"{path}: {key} is a {found}; expected one of {', '.join(REFERENCE_CLASSES)}")
        spec = {"class": REFERENCE_CLASSES[record.class_name],
                "kwargs": _init_kwargs(record, source=path, what=key)}
        net = build_network(registry, spec["class"], spec["kwargs"], what=key, source=path)
        networks[key] = fill_network(net, flatten_record(record, source=path), what=key, source=path)
        specs[key] = spec
    extra_tensors, extra = {}, {"source_file": path.name}
    pipe = tree.get("augment_pipe")
    if isinstance(pipe, PersistentRecord):
        extra["augment_pipe"] = {"class": pipe.class_name,
                                 "kwargs": _init_kwargs(pipe, source=path, what="augment_pipe")}
        extra_tensors["augment_pipe"] = flatten_record(pipe, source=path)
    training_set_kwargs = tree.get("training_set_kwargs")
    if training_set_kwargs is not None:
        extra["training_set_kwargs"] = _plain(training_set_kwargs, source=path, what="training_set_kwargs")
    kimg = snapshot_kimg(path)
    meta = {"format": "stylegan2-ada-pickle", "networks": specs, "tensor_groups": list(extra_tensors),
            "class_names": None, "training_options": {}, "cur_nimg": None if kimg is None else kimg * 1000,
            "kimg": kimg, "extra": extra}
    return LoadedNetworks(networks=networks, meta=meta, extra_tensors=extra_tensors, weights_file=path)


def convert_reference_pickle(source: str | Path, dest: str | Path, *,
                             registry: Registry | None = None) -> tuple[LoadedNetworks, tuple[Path, Path]]:
    """Import ``source`` and write it as the thygan checkpoint ``dest``.safetensors + ``dest``.json.

    The augment pipe's buffers become the tensor group 'augment_pipe'; its class and kwargs, the
    training_set_kwargs and the source's name and SHA-256 go under the checkpoint's 'extra'.
    """
    loaded = load_reference_pickle(source, registry=registry)
    extra = dict(loaded.meta["extra"], source_sha256=hashlib.sha256(Path(source).read_bytes()).hexdigest())
    paths = save_checkpoint(dest, networks=loaded.networks, extra_tensors=loaded.extra_tensors,
                            class_names=loaded.class_names, cur_nimg=loaded.cur_nimg, extra=extra,
                            registry=registry)
    return loaded, paths
