"""Mask formats, rendering for the generator, and the sampler's guarantees (no overlaps, valid types)."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from thygan.errors import UserError
from thygan.translate.mask_sampler import MaskSampler, extract_nuclei
from thygan.translate.masks import NucleusMask, from_pannuke, read_mask, render_mask


def disc_mask(size: int = 48, seed: int = 0, count: int = 6, num_types: int = 3) -> NucleusMask:
    """Non-touching discs of random radius and type."""
    rng = np.random.default_rng(seed)
    inst = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    types = {}
    for k in range(1, count + 1):
        for _ in range(50):
            r, cy, cx = rng.integers(2, 5), rng.integers(5, size - 5), rng.integers(5, size - 5)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            if not (ndimage.binary_dilation(disc, iterations=2) & (inst > 0)).any():
                inst[disc] = k
                types[k] = int(rng.integers(1, num_types + 1))
                break
    return NucleusMask(inst, types)


def test_three_formats_read_to_the_same_mask(tmp_path):
    mask = disc_mask()
    type_map = mask.type_map
    Image.fromarray(type_map.astype(np.uint8)).save(tmp_path / "t.png")
    np.savez(tmp_path / "m.npz", inst_map=mask.inst_map,
             inst_type=np.array([mask.types[k] for k in range(1, len(mask.types) + 1)]))
    pannuke = np.zeros((48, 48, 6), np.int32)
    for k, t in mask.types.items():
        pannuke[:, :, t - 1][mask.inst_map == k] = k * 7  # ids unique within a channel, not across
    pannuke[:, :, 5] = mask.inst_map == 0
    np.save(tmp_path / "p.npy", pannuke)
    for name in ("t.png", "m.npz", "p.npy"):
        got = read_mask(tmp_path / name, 5)
        assert np.array_equal(got.type_map, type_map), name
        assert len(got.types) == len(mask.types), name
        # Same partition into nuclei (ids may differ).
        pairs = {(a, b) for a, b in zip(got.inst_map.ravel(), mask.inst_map.ravel())}
        assert len(pairs) == len(mask.types) + 1, name


def test_an_instance_map_npy_is_one_type(tmp_path):
    """segment pseudo-labels' Labels/*.npy: [H, W] instance ids, every nucleus of type 1."""
    mask = disc_mask()
    np.save(tmp_path / "i.npy", mask.inst_map)
    got = read_mask(tmp_path / "i.npy", 1)
    assert np.array_equal(got.inst_map, mask.inst_map)
    assert got.types == {k: 1 for k in mask.types}
    assert np.array_equal(got.type_map, (mask.inst_map > 0).astype(np.int32))


def test_unknown_type_ids_are_one_line_errors(tmp_path):
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / "bad.png")
    with pytest.raises(UserError, match=r"bad.png: unknown nucleus type id 7 \(expected 0 = background or 1..5"):
        read_mask(tmp_path / "bad.png", 5)
    pannuke = np.zeros((8, 8, 6), np.int32)
    pannuke[2:4, 2:4, 4] = 1  # an epithelial nucleus (type 5)
    with pytest.raises(UserError, match="unknown nucleus type id 5"):
        from_pannuke(pannuke, 3, "p.npy")


def test_render_is_one_hot_plus_contours():
    mask = disc_mask(num_types=3)
    x = render_mask(mask.stacked(), 3)
    assert x.shape == (5, 48, 48) and set(np.unique(x.numpy())) <= {-1.0, 1.0}
    onehot = (x[:4] > 0).numpy()
    assert (onehot.sum(0) == 1).all()
    assert np.array_equal(onehot.argmax(0), mask.type_map)
    contour = (x[4] > 0).numpy()
    assert contour.any() and (mask.inst_map[contour] > 0).all()
    # A contour pixel has a 4-neighbour outside its nucleus; an interior one does not.
    inst = np.pad(mask.inst_map, 1)
    neighbours_differ = np.zeros_like(contour)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbours_differ |= inst[1 + dy:49 + dy, 1 + dx:49 + dx] != mask.inst_map
    assert np.array_equal(contour, neighbours_differ & (mask.inst_map > 0))


def test_sampler_masks_never_overlap_and_keep_valid_types():
    real = [disc_mask(seed=s, count=8) for s in range(3)]
    sampler = MaskSampler(real, num_types=3, retype_prob=0.5, gap=1)
    areas = sorted(int(n.shape.sum()) for n in extract_nuclei(real))
    rng = np.random.default_rng(0)
    for _ in range(5):
        new = sampler.sample(48, rng)
        ids = [k for k in np.unique(new.inst_map) if k > 0]
        assert ids == sorted(new.types) and len(ids) > 0
        assert set(new.types.values()) <= {1, 2, 3}
        for k in ids:
            nucleus = new.inst_map == k
            # Whole (nothing painted over it), one connected piece, at least `gap` px from any other nucleus.
            assert ndimage.label(nucleus, structure=np.ones((3, 3)))[1] == 1
            grown = ndimage.binary_dilation(nucleus, structure=np.ones((3, 3)))
            assert not (grown & (new.inst_map > 0) & ~nucleus).any()
            assert min(areas) * 0.5 <= nucleus.sum() <= max(areas) * 1.5  # a rotated real nucleus
    # Masks are new: not one equals a real mask.
    assert not any(np.array_equal(new.inst_map > 0, m.inst_map > 0) for m in real)


def test_training_grid_draws_a_one_type_mask_input_as_a_mask_not_rgb():
    """With one nucleus type the rendered input has 3 channels; as RGB its background (+1 in channel 0)
    would be saturated red. The grid's real_A column must be mask_to_rgb's picture: black background."""
    from thygan.translate.masks import TYPE_COLOURS, mask_to_rgb
    from thygan.translate.training_pages import translation_grid

    mask = disc_mask(size=16, seed=2, count=3, num_types=1)
    x = render_mask(mask.stacked(), 1)[None]
    fake = torch.zeros(1, 3, 16, 16)
    grid = translation_grid({"real_A": x, "fake_B": fake, "real_B": fake}, masks_on_a=True)
    tile = grid[:16, :16]
    assert np.array_equal(tile, mask_to_rgb(x[0]))
    background = mask.inst_map == 0
    assert (tile[background] == 0).all()
    contours = x[0, -1].numpy() > 0
    assert (tile[contours] == 255).all()
    assert (tile[(mask.inst_map > 0) & ~contours] == TYPE_COLOURS[1]).all()
    assert np.array_equal(grid[:16, 18:34], np.full((16, 16, 3), 128, np.uint8))  # fake_B (0) stays RGB
