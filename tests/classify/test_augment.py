"""Training transforms and the deterministic evaluation crops."""

import numpy as np
import pytest

from thygan.classify.augment import LazyImages, eval_crops, train_transform
from thygan.classify.data import normalize_uint8


def test_center_and_grid_crops():
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    (center,) = eval_crops(image, 3, "center")
    np.testing.assert_array_equal(center, image[1:4, 2:5])
    tiles = eval_crops(image, 3, "tiles")
    # the study's grid: round(7/3) = 2 columns at x = 0, 3; round(5/3) = 2 rows at y = 0, 3 -> clamped to 2
    expected = [image[y:y + 3, x:x + 3] for y in (0, 2) for x in (0, 3)]
    assert len(tiles) == 4
    for got, want in zip(tiles, expected):
        np.testing.assert_array_equal(got, want)


def test_crop_only_preset_is_a_normalised_crop():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = train_transform(8, preset="none", seed=1)(image=image, fda_metadata=LazyImages([image], lambda x: x))["image"]
    assert out.shape == (8, 8, 3) and out.dtype == np.float32
    candidates = [normalize_uint8(image[y:y + 8, x:x + 8]) for y in range(5) for x in range(3)]
    assert min(np.abs(out - c).max() for c in candidates) < 1e-5


def test_study_pipeline_is_seeded_and_uses_fda_references():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    reads = []
    refs = LazyImages(["a", "b"], lambda name: reads.append(name) or np.full((50, 50, 3), 200, np.uint8))
    outs = [train_transform(32, seed=7)(image=image, fda_metadata=refs)["image"] for _ in range(2)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert outs[0].shape == (32, 32, 3) and np.isfinite(outs[0]).all()
    many = [train_transform(32, seed=s)(image=image, fda_metadata=refs)["image"] for s in range(12)]
    assert len({o.tobytes() for o in many}) == 12
    assert reads and set(reads) <= {"a", "b"}  # FDA fired in some of the 12 and read lazily


def test_unknown_preset():
    from thygan.errors import UserError

    with pytest.raises(UserError, match="--augment"):
        train_transform(8, preset="heavy")
