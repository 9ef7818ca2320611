"""Where feature statistics live on disk: the cache folder, content hashes, atomic ``.npz`` files.

Real-set statistics are keyed by what they were computed from, never by a path: the SHA-256 of the
dataset's bytes (every image file and dataset.json) plus the detector's weights hash. Hashing a large
dataset takes seconds, so the content hash itself is remembered under a key made of the files'
names, sizes and modification times; touching any file recomputes it.
"""

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from thygan.data.image_files import ImageFiles
from thygan.io.atomic import atomic_path, atomic_write_text

CACHE_ENV = "THYGAN_CACHE"
DEFAULT_CACHE = Path("~/.cache/thygan/metrics")
_LABELS_FILE = "dataset.json"


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The metrics cache folder: ``explicit``, else $THYGAN_CACHE, else ~/.cache/thygan/metrics (created)."""
    folder = Path(explicit or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stat_signature(files: ImageFiles) -> str:
    digest = hashlib.sha256(str(files.path.resolve()).encode())
    if files.kind == "zip":
        info = files.path.stat()
        digest.update(f"zip {info.st_size} {info.st_mtime_ns}".encode())
        return digest.hexdigest()
    for name in files.names + ([_LABELS_FILE] if files.has(_LABELS_FILE) else []):
        info = (files.path / (files.prefix + name)).stat()
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _hash_content(files: ImageFiles) -> str:
    digest = hashlib.sha256()
    for name in files.names + ([_LABELS_FILE] if files.has(_LABELS_FILE) else []):
        data = files.read(name)
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def content_hash(path: str | os.PathLike, *, cache: Path | None = None, what: str | None = None) -> str:
    """SHA-256 of a dataset folder or zip: image files (sorted relative paths, bytes) and dataset.json.

    Args:
        path: Folder or zip.
        cache: Cache folder where the hash is remembered per (names, sizes, mtimes); None = no memo.
        what: How to name ``path`` in errors (e.g. '--data').
    """
    files = ImageFiles(path, what=what)
    memo = None
    if cache is not None:
        memo = cache / "content-hashes" / f"{_stat_signature(files)}.txt"
        if memo.is_file():
            return memo.read_text().strip()
    value = _hash_content(files)
    files.close()
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo, value + "\n")
    return value


def stats_key(*parts: object) -> str:
    """A short stable key for a cache entry from its defining parts."""
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:20]


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of ``path``, or None if it does not exist or is damaged (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError):
        return None


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (uncompressed: covariances do not compress)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
