"""Atomic file writes: readers see the old file or the complete new one, never a truncated one.

The data goes to a temporary file in the destination's own folder (so the final ``os.replace`` is a
rename within one file system, which POSIX and Windows make atomic) and is renamed onto the
destination only once it is complete. A process killed mid-write leaves at most a hidden
``.<name>.<random>.tmp`` file beside the destination, never a damaged destination.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _create_temp(path: Path) -> Path:
    """Create an empty, uniquely named temp file next to ``path`` with the usual umask permissions."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # O_EXCL: never reuse a name a concurrent writer holds; mode 0o666 lets the umask decide
            # the final permissions (mkstemp would leave 0o600 behind after the rename).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces ``path``, on any exception it is deleted.

    Args:
        path: The destination file. Its folder must exist.

    Yields:
        A path in the same folder; the caller writes the complete content there.
    """
    path = Path(path)
    tmp = _create_temp(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return ``path``."""
    return atomic_write_bytes(path, text.encode(encoding))
