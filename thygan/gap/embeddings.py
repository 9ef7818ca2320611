"""Embedding image sets with a feature extractor, batched, cached on disk and resumable.

The cache file is ``<cache>/<extractor>-<key>.npz`` where the key hashes the extractor's identity
(name, version, weights digest) and the set's content digest, so the same images embedded by the
same extractor are computed once, whatever the set is called. While a set is being embedded its
features so far are saved every ``checkpoint_every`` images to ``<same stem>.partial.npz``; an
interrupted run continues from there. Every file is written atomically.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thygan.gap.extractors import FeatureExtractor
from thygan.gap.image_sets import ImageSet
from thygan.io.atomic import atomic_path
from thygan.progress import progress as progress_bar


@dataclass
class Embedding:
    """The features of one image set.

    Attributes:
        name: The set's name.
        features: [N, D] float32.
        labels: [N] int64, -1 where unlabelled.
        item_names: One name per image.
        class_names: Names of label indices, when known.
        color: Plot colour, or None for the default palette.
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    item_names: list[str]
    class_names: list[str] | None = None
    color: str | None = None

    def __len__(self) -> int:
        return len(self.features)

    def class_keys(self) -> np.ndarray:
        """[N] str: each item's class name (or label index as text); '' where unlabelled."""
        names = self.class_names or []
        return np.array(["" if label < 0 else names[label] if label < len(names) else str(label)
                         for label in self.labels.tolist()], dtype=str)


def cache_path(cache_dir: str | Path, extractor: FeatureExtractor, image_set: ImageSet) -> Path:
    """Where the features of ``image_set`` under ``extractor`` are cached."""
    key = hashlib.sha256(f"{extractor.identity}\0{image_set.digest()}".encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{extractor.name}-{key}.npz"


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _read_features(path: Path | None, extractor: FeatureExtractor, image_set: ImageSet) -> np.ndarray | None:
    """The features in a cache file if it exists and belongs to this extractor and set; else None."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["identity"]) != extractor.identity or str(data["digest"]) != image_set.digest():
                return None
            return data["features"]
    except (OSError, KeyError, ValueError):
        return None  # damaged or foreign file: recompute and replace it


def _batches(images: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Stack consecutive images of equal shape, at most ``batch_size`` at a time: [B, H, W, 3]."""
    batch = []
    for image in images:
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            yield np.stack(batch)
            batch = []
        batch.append(image)
    if batch:
        yield np.stack(batch)


def embed_set(image_set: ImageSet, extractor: FeatureExtractor, *, cache_dir: str | Path | None = None,
              batch_size: int = 32,          # images per extractor call
              checkpoint_every: int = 1024,  # images between partial saves
              progress: bool = True) -> Embedding:
    """Features of every image of ``image_set`` (from the cache when it has them).

    Args:
        image_set: The images.
        extractor: The feature extractor.
        cache_dir: Folder of the cache (created if missing); None computes without caching.
        batch_size: Images per extractor call.
        checkpoint_every: Save partial features this often (images) so an interruption loses little.
        progress: Show a progress bar (thygan.progress).
    """
    path = cache_path(cache_dir, extractor, image_set) if cache_dir is not None else None
    features = _read_features(path, extractor, image_set)
    if features is None or len(features) != len(image_set):
        partial = path.with_suffix(".partial.npz") if path is not None else None
        features = _compute(image_set, extractor, partial=partial, batch_size=batch_size,
                            checkpoint_every=checkpoint_every, progress=progress)
        if path is not None:
            _save_features(path, features, extractor, image_set)
            partial.unlink(missing_ok=True)
    return Embedding(image_set.name, features, image_set.labels.copy(), list(image_set.item_names),
                     image_set.class_names, image_set.color)


def _compute(image_set: ImageSet, extractor: FeatureExtractor, *, partial: Path | None, batch_size: int,
             checkpoint_every: int, progress: bool) -> np.ndarray:
    """Embed the images, continuing after the features saved in ``partial`` and saving there as it goes."""
    done = _read_features(partial, extractor, image_set)
    chunks = [done] if done is not None and 0 < len(done) < len(image_set) else []
    count = last_saved = sum(len(chunk) for chunk in chunks)
    bar = progress_bar(total=len(image_set), initial=count, desc=f"embedding {image_set.name} ({extractor.name})",
               unit="img", disable=not progress, leave=False)
    for batch in _batches(image_set.images(count), batch_size):
        images = torch.from_numpy(batch).permute(0, 3, 1, 2).to(extractor.device)
        chunks.append(extractor.embed(images).cpu().numpy().astype(np.float32))
        count += len(batch)
        bar.update(len(batch))
        if partial is not None and count - last_saved >= checkpoint_every and count < len(image_set):
            _save_features(partial, np.concatenate(chunks), extractor, image_set)
            last_saved = count
    bar.close()
    return np.concatenate(chunks)


def _save_features(path: Path, features: np.ndarray, extractor: FeatureExtractor,
                   image_set: ImageSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_npz(path, features=features, identity=np.array(extractor.identity),
              digest=np.array(image_set.digest()), labels=image_set.labels[:len(features)],
              item_names=np.array(image_set.item_names[:len(features)], dtype=str))
