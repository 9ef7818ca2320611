"""Image sources: generated images depend on their seed only; folders of mixed images batch correctly."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.metrics.conftest import tiny_generator
from thygan.metrics.sources import FolderImages, GeneratedImages


def _all(source, start, batch_size):
    return torch.cat(list(source.batches(start, batch_size)))


def test_generated_images_do_not_depend_on_batching_or_resume_point():
    G = tiny_generator()
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0]]
    source = GeneratedImages(G, labels, first_seed=5)
    whole = _all(source, 0, 7)
    assert whole.shape == (7, 3, 16, 16) and whole.dtype == torch.uint8
    assert torch.equal(_all(source, 0, 3), whole)
    assert torch.equal(_all(source, 4, 2), whole[4:])
    shifted = _all(GeneratedImages(G, labels[1:], first_seed=6), 0, 4)
    assert torch.equal(shifted, whole[1:])  # image k is a function of (seed, label) alone
    assert not torch.equal(whole[0], whole[3])  # different seeds, same label: different images


def test_folder_images_batch_by_size_and_fix_channels(tmp_path):
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.randint(0, 256, (8, 8, 4), dtype=np.uint8)).save(tmp_path / "b.png")   # RGBA
    Image.fromarray(rng.randint(0, 256, (6, 10, 3), dtype=np.uint8)).save(tmp_path / "c.png")  # other size
    Image.fromarray(rng.randint(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "d.png")      # grayscale
    source = FolderImages(str(tmp_path), what="--fake")
    shapes = [tuple(batch.shape) for batch in source.batches(0, 32)]
    assert shapes == [(2, 3, 8, 8), (1, 3, 6, 10), (1, 1, 8, 8)]
    rgba = np.asarray(Image.open(tmp_path / "b.png"))[:, :, :3].transpose(2, 0, 1)
    assert np.array_equal(next(iter(source.batches(1, 1))).numpy()[0], rgba)
    assert len(FolderImages(str(tmp_path), what="--fake", limit=2)) == 2


def test_missing_folder_is_a_user_error(tmp_path):
    from thygan.errors import UserError

    with pytest.raises(UserError, match="--real"):
        FolderImages(str(tmp_path / "nope"), what="--real")
