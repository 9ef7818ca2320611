"""Content digests of files: what caches are keyed by and what run records name a network or detector by."""

import hashlib
import os


def file_sha256(path: str | os.PathLike, *, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, streamed in chunks (networks and detectors are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
