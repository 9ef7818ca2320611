"""`segment infer` window options, and the slide reader of `segment infer wsi` against openslide and MONAI."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.segment.conftest import disk_instances, render
from tests.segment.test_cli import assert_user_error, run, save_tiny
from thygan.data.tiling import Box, SlideSource

SLIDE = Path(__file__).resolve().parents[2] / "data" / "sample" / "CMU-1-Small-Region.svs"


def test_infer_tile_overlap_option(tmp_path):
    model = save_tiny(tmp_path / "model" / "hovernet-snapshot-000001", 128)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    Image.fromarray(render(disk_instances(40, [(12, 12), (28, 26)]))).save(tiles / "t1.png")
    base = ["segment", "infer", "tile", "--model", str(model), "--input-dir", str(tiles), "--device", "cpu"]
    for bad in ("36", "-1", "lots"):  # the tiny model's output side is 36 px
        out = tmp_path / f"out{bad}"
        assert_user_error(run(base + ["--output-dir", str(out), "--overlap", bad]), "--overlap")
        assert not out.exists()
    for overlap in ("0", "auto"):
        result = run(base + ["--output-dir", str(tmp_path / f"out{overlap}"), "--overlap", overlap, "--blend",
                             "constant"])
        assert result.exit_code == 0 and (tmp_path / f"out{overlap}" / "json" / "t1.json").is_file(), result.output


def test_slide_reader_against_openslide_and_monai():
    """``SlideSource`` gives openslide.read_region's pixels. MONAI's WSIReader (openslide backend; cucim is not
    installed and tifffile needs imagecodecs for this JPEG-compressed svs) gives the same inside the slide, but
    black where nothing was scanned (chunk margins reach past the slide edge; glass white is what the tissue
    mask expects) and refuses a magnification the pyramid does not store, so slides are read by SlideSource."""
    import openslide
    from monai.data import WSIReader

    source = SlideSource(SLIDE)
    reader = WSIReader(backend="openslide")
    wsi = reader.read(str(SLIDE))
    with openslide.OpenSlide(str(SLIDE)) as slide:
        direct = np.asarray(slide.read_region((700, 900), 0, (96, 96)).convert("RGB"))
    ours = source.read(Box(700, 900, 96))
    monai, _ = reader.get_data(wsi, location=(900, 700), size=(96, 96), level=0)  # (y, x), [C, H, W]
    np.testing.assert_array_equal(ours, direct)
    np.testing.assert_array_equal(np.moveaxis(monai, 0, -1), direct)
    edge = source.read(Box(-16, -16, 32))
    monai_edge, _ = reader.get_data(wsi, location=(-16, -16), size=(32, 32), level=0)
    assert (edge[:16, :16] == 255).all() and (monai_edge[:, :16, :16] == 0).all()
    assert SlideSource(SLIDE, magnification=10).read(Box(350, 450, 48)).shape == (48, 48, 3)
    with pytest.raises(ValueError, match="power"):
        reader.get_data(wsi, location=(900, 700), size=(96, 96), power=10)
    source.close()
