"""One entry point for every network file a user may pass: a thygan checkpoint or a reference .pkl."""

from pathlib import Path

from dnnlib import Registry
from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint
from thygan.io.rebuild import LoadedNetworks
from thygan.io.reference_pickle import load_reference_pickle

CHECKPOINT_SUFFIXES = (".safetensors", ".json")


def load_network_file(path: str | Path, *, registry: Registry | None = None) -> LoadedNetworks:
    """Load ``path`` by its suffix: ``.pkl`` -> reference import; ``.safetensors``, ``.json`` or a bare
    stem (``run/network-snapshot-000400``) -> thygan checkpoint.

    Raises:
        UserError: for a missing file or an unknown suffix, naming the path.
    """
    path = Path(path)
    if path.suffix == ".pkl":
        return load_reference_pickle(path, registry=registry)
    if path.suffix in CHECKPOINT_SUFFIXES or any(p.is_file() for p in checkpoint_paths(path)):
        return load_checkpoint(path, registry=registry)
    if path.is_dir():
        raise UserError(f"{path}: is a folder (expected a network file: .safetensors/.json or .pkl)")
    if path.is_file():
        raise UserError(f"{path}: unknown network file type '{path.suffix}' (expected a thygan checkpoint "
                        f".safetensors/.json or a reference network-snapshot .pkl)")
    raise UserError(f"{path}: no such network file (expected {path}.safetensors, a .json beside it, "
                    f"or a .pkl)")
