"""Tiling: the study's clamped grid, Otsu on saturation, and slide reading at a level/magnification."""

import colorsys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thygan.data.tiling import (
    Box,
    ImageSource,
    SlideSource,
    grid_boxes,
    grid_starts,
    is_slide_file,
    open_source,
    otsu_threshold,
    saturation,
    source_files,
    tissue_fraction,
    tissue_threshold,
)
from thygan.errors import UserError

SAMPLE_SLIDE = Path(__file__).resolve().parents[2] / "data" / "sample" / "CMU-1-Small-Region.svs"


def test_study_grid_on_a_tharun_thompson_sized_image():
    # The study's documented crops of a 1916 x 1053 image at 512: 4 columns x 2 rows, row-major.
    boxes = grid_boxes(1916, 1053, 512)
    expected = [(x, y) for y in (0, 512) for x in (0, 512, 1024, 1404)]
    assert [(b.x, b.y) for b in boxes] == expected
    assert all(b.size == 512 for b in boxes)


def test_grid_matches_study_count_round_half_to_even():
    # round(1280 / 512) = round(2.5) = 2 in Python: the study would make 2 columns, not 3.
    assert grid_starts(1280, 512) == [0, 512]
    assert grid_starts(1792, 512) == [0, 512, 1024, 1280]  # round(3.5) = 4, last clamped


def test_crop_larger_than_image_is_a_user_error():
    with pytest.raises(UserError, match="larger than the image"):
        grid_starts(300, 512)


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 3000), crop=st.integers(1, 600), stride_share=st.floats(0.05, 1.0))
def test_grid_properties(length, crop, stride_share):
    if crop > length:
        return
    stride = max(1, int(crop * stride_share))
    starts = grid_starts(length, crop, stride)
    assert starts[0] == 0
    assert all(0 <= s <= length - crop for s in starts)
    assert all(b > a for a, b in zip(starts, starts[1:], strict=False)), "strictly increasing, no duplicates"
    covered = np.zeros(length, dtype=bool)
    for s in starts:
        covered[s:s + crop] = True
    # stride <= crop: no gaps inside; the uncovered tail is at most half a stride (rounding down).
    first_gap = int(np.argmin(covered)) if not covered.all() else length
    assert covered[:first_gap].all() and not covered[first_gap:].any()
    assert length - first_gap <= stride / 2
    if stride == crop:
        assert len(starts) == round(length / crop)  # the study's count


def test_saturation_matches_colorsys():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    expected = np.array([[colorsys.rgb_to_hsv(*(rgb[i, j] / 255.0))[1] for j in range(9)] for i in range(7)])
    np.testing.assert_allclose(saturation(rgb), expected, atol=1e-6)


def test_otsu_matches_scikit_image():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(1)
    values = np.clip(np.concatenate([rng.normal(0.05, 0.02, 5000), rng.normal(0.45, 0.1, 3000)]), 0, 1)
    # Both use 256 bins; skimage bins over [min, max], thygan over [0, 1]: agree within two bin widths.
    tolerance = 2 / 256 + 2 * np.ptp(values) / 256
    assert abs(otsu_threshold(values) - threshold_otsu(values, nbins=256)) < tolerance


def test_otsu_separates_two_levels_exactly():
    values = np.array([0.1] * 30 + [0.9] * 10)
    threshold = otsu_threshold(values)
    assert 0.1 < threshold < 0.9 and (values > threshold).sum() == 10


def test_tissue_fraction_and_threshold_clipping():
    image = np.full((40, 40, 3), 245, dtype=np.uint8)
    image[:, :10] = (200, 80, 160)  # a quarter of stained tissue (saturation 0.6)
    threshold = tissue_threshold(image)
    assert 0.05 <= threshold <= 0.2
    assert tissue_fraction(image, threshold) == pytest.approx(0.25)
    glass = np.full((20, 20, 3), 240, dtype=np.uint8)
    glass[::2, ::2, 0] = 250  # JPEG-like speckle, saturation 0.04
    assert tissue_fraction(glass, tissue_threshold(glass)) == 0.0


def test_image_source_reads_boxes(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    source = open_source(tmp_path / "a.png")
    assert isinstance(source, ImageSource) and (source.width, source.height) == (50, 30)
    np.testing.assert_array_equal(source.read(Box(20, 5, 10)), rgb[5:15, 20:30])


def test_unreadable_image_is_a_user_error(tmp_path):
    (tmp_path / "bad.jpeg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="bad.jpeg: cannot read image"):
        open_source(tmp_path / "bad.jpeg")


def test_slide_at_level_zero_matches_openslide():
    import openslide

    source = open_source(SAMPLE_SLIDE)
    assert isinstance(source, SlideSource) and (source.width, source.height) == (2220, 2967)
    with openslide.OpenSlide(str(SAMPLE_SLIDE)) as slide:
        direct = np.asarray(slide.read_region((1000, 1500), 0, (64, 64)).convert("RGB"))
    np.testing.assert_array_equal(source.read(Box(1000, 1500, 64)), direct)
    source.close()


@pytest.mark.parametrize("options", [{"magnification": 10}, {"mpp": 0.998}])
def test_slide_at_half_resolution_averages_2x2_blocks(options):
    import openslide

    source = SlideSource(SAMPLE_SLIDE, **options)
    assert (source.width, source.height) == (1110, 1483)
    with openslide.OpenSlide(str(SAMPLE_SLIDE)) as slide:
        native = np.asarray(slide.read_region((1000, 1500), 0, (64, 64)).convert("RGB")).astype(float)
    expected = native.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(source.read(Box(500, 750, 32)).astype(float) - expected).max() <= 1.0
    source.close()


def test_slide_resolution_errors():
    with pytest.raises(UserError, match="finer than"):
        SlideSource(SAMPLE_SLIDE, magnification=40)
    with pytest.raises(UserError, match="at most one"):
        SlideSource(SAMPLE_SLIDE, level=0, mpp=1.0)
    with pytest.raises(UserError, match="--level"):
        SlideSource(SAMPLE_SLIDE, level=3)


def test_slide_detection_and_source_listing(tmp_path):
    assert is_slide_file(SAMPLE_SLIDE)
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b.jpeg", "sub/a.png", ".hidden/c.png", "dataset.json", "notes.txt", ".d.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "s.svs").write_bytes(b"x")
    assert source_files(tmp_path) == ["b.jpeg", "s.svs", "sub/a.png"]
    assert not is_slide_file(tmp_path / "b.jpeg")
