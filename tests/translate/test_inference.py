"""translate run: padding to the generator's multiple, tiled blending without seams, pyramidal TIFF, CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.translate.conftest import write_images
from thygan.cli.translate import translate_command
from thygan.translate.generator_file import save_generator
from thygan.translate.inference import (
    covering_starts,
    padded_reader,
    ramp,
    translate_batch,
    translate_images,
    translate_tiled,
    write_pyramid_tiff,
)
from thygan.translate.networks import build_generator, init_weights


class Pointwise(torch.nn.Module):
    """A 1x1-conv 'generator': each output pixel depends on its input pixel only."""

    def __init__(self):
        super().__init__()
        self.init_kwargs = {"input_nc": 3, "output_nc": 3}
        self.conv = torch.nn.Conv2d(3, 3, 1)
        torch.nn.init.eye_(self.conv.weight[:, :, 0, 0])
        self.conv.weight.data *= -0.9  # an 'inverting' colour map

    def forward(self, x):
        assert x.shape[2] % 4 == 0 and x.shape[3] % 4 == 0
        return torch.tanh(self.conv(x))


class TileMean(torch.nn.Module):
    """Output = the tile's mean colour everywhere: the worst case for seams between tiles."""

    init_kwargs = {"input_nc": 3, "output_nc": 3}

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)


def test_any_size_is_padded_and_cropped_back_not_resized():
    G = build_generator("resnet_6blocks", ngf=2)
    init_weights(G, generator=torch.Generator().manual_seed(0))
    G.eval()
    x = torch.rand(1, 3, 37, 53) * 2 - 1
    y = translate_batch(G, x)
    assert y.shape == (1, 3, 37, 53)
    padded = torch.nn.functional.pad(x, (0, 3, 0, 3), mode="reflect")
    assert torch.allclose(y, G(padded)[:, :, :37, :53])
    unet = build_generator("unet_128", ngf=2, norm="instance").eval()
    assert translate_batch(unet, torch.rand(1, 3, 130, 20) * 2 - 1).shape == (1, 3, 130, 20)  # pads to 256x128


def test_ramps_sum_to_one_across_an_overlap():
    left, right = ramp(16, 6, first=True, last=False), ramp(16, 6, first=False, last=True)
    overlap_sum = left[-6:] + right[:6]
    assert np.allclose(overlap_sum, 1) and left[0] == 1 and right[-1] == 1
    assert covering_starts(100, 32, 24) == [0, 24, 48, 68] and covering_starts(20, 32, 24) == [0]


def test_tiled_equals_whole_for_a_pointwise_generator():
    image = np.random.default_rng(0).integers(0, 256, (70, 95, 3), dtype=np.uint8)
    G = Pointwise()
    out = translate_tiled(padded_reader(image), 95, 70, G, out=np.zeros_like(image), tile=32, overlap=8,
                          batch_size=3, verbose=False)
    whole = translate_images(G, [image[:68, :92]], device="cpu")[0]  # a multiple-of-4 crop, untiled
    assert np.array_equal(out[:68, :92], whole)


def test_blending_leaves_no_seam_where_tiles_disagree():
    # Left half dark, right half bright: TileMean tiles disagree strongly, a plain mosaic would jump.
    image = np.zeros((32, 128, 3), np.uint8)
    image[:, 64:] = 240
    out = translate_tiled(padded_reader(image), 128, 32, TileMean(), out=np.zeros_like(image), tile=32, overlap=16,
                          verbose=False)
    row = out[16, :, 0].astype(int)
    steps = np.abs(np.diff(row))
    unblended = [float(np.mean(image[:, x:x + 32, 0])) for x in covering_starts(128, 32, 16)]
    largest_tile_jump = max(abs(a - b) for a, b in zip(unblended, unblended[1:]))
    assert steps.max() <= largest_tile_jump / 16 * 1.5 + 1  # spread over the 16-px overlap, not one step
    assert np.all(np.diff(row) >= -1)  # monotone from dark to bright


def test_pyramid_tiff_opens_in_openslide(tmp_path):
    import openslide

    image = np.random.default_rng(1).integers(0, 256, (600, 700, 3), dtype=np.uint8)
    path = write_pyramid_tiff(tmp_path / "out.tif", image, mpp=0.5)
    slide = openslide.OpenSlide(str(path))
    assert slide.dimensions == (700, 600) and slide.level_count == 2
    region = np.asarray(slide.read_region((0, 0), 0, (700, 600)).convert("RGB"))
    assert np.array_equal(region, image)
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    G = build_generator("resnet_6blocks", ngf=2)
    init_weights(G, generator=torch.Generator().manual_seed(0))
    return save_generator(tmp_path / "net", G)


def test_run_translates_every_image_of_any_size_and_resumes(tmp_path, tiny_checkpoint):
    src = tmp_path / "src"
    write_images(src, 53, size=(10, 14))  # more than the reference's 50-image test cap
    write_images(src / "sub", 2, size=(21, 19), seed=3)
    runner = CliRunner()
    result = runner.invoke(translate_command, ["run", "--network", str(tiny_checkpoint), "--source", str(src),
                                               "--out", str(tmp_path / "out"), "--batch", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    outs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert len(outs) == 55 and "sub/001.png" in outs
    assert Image.open(tmp_path / "out" / "sub" / "001.png").size == (19, 21)
    first = (tmp_path / "out" / "000.png").stat().st_mtime_ns
    result = runner.invoke(translate_command, ["run", "--network", str(tiny_checkpoint), "--source", str(src),
                                               "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert "0 file(s) written" in result.output
    assert (tmp_path / "out" / "000.png").stat().st_mtime_ns == first
    import shutil

    archive = shutil.make_archive(str(tmp_path / "src"), "zip", src)  # the same images from a zip
    result = runner.invoke(translate_command, ["run", "--network", str(tiny_checkpoint), "--source", archive,
                                               "--out", str(tmp_path / "from_zip"), "--device", "cpu"])
    assert result.exit_code == 0 and "55 file(s) written" in result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "from_zip" / "sub" / "001.png")),
                          np.asarray(Image.open(tmp_path / "out" / "sub" / "001.png")))



def test_run_refuses_translations_of_another_generator_until_overwrite(tmp_path, tiny_checkpoint):
    src, out = tmp_path / "src", tmp_path / "out"
    write_images(src, 3, size=(12, 12))
    G = build_generator("resnet_6blocks", ngf=2)
    init_weights(G, generator=torch.Generator().manual_seed(1))
    other = save_generator(tmp_path / "other", G)
    runner = CliRunner()

    def translate(network, *extra):
        return runner.invoke(translate_command, ["run", "--network", str(network), "--source", str(src), "--out",
                                                 str(out), "--device", "cpu", *extra])

    assert translate(tiny_checkpoint).exit_code == 0
    before = (out / "000.png").read_bytes()
    result = translate(other)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--out" in result.output and "another generator" in result.output and "--overwrite" in result.output
    assert (out / "000.png").read_bytes() == before
    assert translate(tiny_checkpoint, "--overlap", "32").exit_code == 2  # settings count too
    result = translate(other, "--overwrite")
    assert result.exit_code == 0 and "3 file(s) written" in result.output
    assert (out / "000.png").read_bytes() != before
    assert "0 file(s) written" in translate(other).output

@pytest.mark.slow
def test_run_on_the_bundled_slide_writes_a_pyramid(tmp_path, tiny_checkpoint):
    import openslide

    slide = str(Path(__file__).resolve().parents[2] / "data" / "sample" / "CMU-1-Small-Region.svs")
    out = tmp_path / "slide.tif"
    result = CliRunner().invoke(translate_command, [
        "run", "--network", str(tiny_checkpoint), "--source", slide, "--out", str(out), "--magnification", "5",
        "--tile", "128", "--overlap", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    translated = openslide.OpenSlide(str(out))
    assert translated.dimensions == (555, 741)
    assert not list(tmp_path.glob(".*canvas"))  # the on-disk canvas is gone
    level0 = np.asarray(translated.read_region((0, 0), 0, (555, 741)).convert("RGB"))
    result = CliRunner().invoke(translate_command, [
        "run", "--network", str(tiny_checkpoint), "--source", slide, "--out", str(tmp_path / "tiles"),
        "--magnification", "5", "--tile", "128", "--overlap", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    tiles = sorted((tmp_path / "tiles").glob("*.png"))
    assert len(tiles) == 5 * 6 and tiles[0].name == "CMU-1-Small-Region_x000000_y000000.png"
    assert np.array_equal(np.asarray(Image.open(tiles[0])), level0[:128, :128])  # same pixels as the TIFF


def test_run_bad_inputs_are_one_line_exit_2(tmp_path, tiny_checkpoint):
    runner = CliRunner()
    result = runner.invoke(translate_command, ["run", "--network", str(tiny_checkpoint), "--source",
                                               str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "no such file or folder" in result.output
    result = runner.invoke(translate_command, ["run", "--network", str(tiny_checkpoint), "--netG", "unet_256",
                                               "--source", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "holds a resnet_6blocks generator, not --netG unet_256" in result.output
    assert not (tmp_path / "o").exists()


def _write_masks(folder: Path, num_types: int) -> list[str]:
    """One mask of each kind translate train reads: type-map PNG, inst_map + inst_type .npz, a 2-D instance
    map .npy (one type) and a PanNuke [H, W, 6] .npy, 32 px each; returns the file names."""
    from tests.translate.test_masks import disc_mask

    folder.mkdir(parents=True)
    masks = [disc_mask(size=32, seed=s, count=4, num_types=num_types) for s in range(4)]
    Image.fromarray(masks[0].type_map.astype(np.uint8)).save(folder / "a.png")
    np.savez(folder / "b.npz", inst_map=masks[1].inst_map,
             inst_type=np.array([masks[1].types[k] for k in sorted(masks[1].types)]))
    np.save(folder / "c.npy", masks[2].inst_map)
    pannuke = np.zeros((32, 32, 6), np.int32)
    for k, t in masks[3].types.items():
        pannuke[:, :, t - 1][masks[3].inst_map == k] = k
    pannuke[:, :, 5] = masks[3].inst_map == 0
    np.save(folder / "d.npy", pannuke)
    return ["a.png", "b.npz", "c.npy", "d.npy"]


@pytest.mark.parametrize("num_types", [1, 2])  # 1: three input channels, like an RGB generator's
def test_run_of_a_mask_generator_equals_the_generator_on_rendered_masks(tmp_path, num_types):
    from thygan.translate.masks import mask_input_channels, read_mask, render_mask

    G = build_generator("resnet_6blocks", input_nc=mask_input_channels(num_types), ngf=2, norm="batch")
    init_weights(G, generator=torch.Generator().manual_seed(1))
    network = save_generator(tmp_path / "net", G.eval(), extra={"mask_types": num_types})
    names = _write_masks(tmp_path / "masks", num_types)
    result = CliRunner().invoke(translate_command, ["run", "--network", str(network), "--source",
                                                    str(tmp_path / "masks"), "--out", str(tmp_path / "out"),
                                                    "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".thygan-settings.json", "a.png", "b.png", "c.png",
                                                                    "d.png"]
    for name in names:  # 32 px: a multiple of 4, so the generator is called on the mask as is
        x = render_mask(read_mask(tmp_path / "masks" / name, num_types).stacked(), num_types)
        with torch.no_grad():
            y = G(x[None])[0]
        expected = ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        got = np.asarray(Image.open(tmp_path / "out" / Path(name).with_suffix(".png")))
        assert np.array_equal(got, expected), name


def test_run_refuses_images_for_a_mask_generator_and_masks_for_an_image_generator(tmp_path, tiny_checkpoint):
    G = build_generator("resnet_6blocks", input_nc=3, ngf=2)
    mask_net = save_generator(tmp_path / "masknet", G, extra={"mask_types": 1})
    write_images(tmp_path / "images", 2, size=(16, 16))
    _write_masks(tmp_path / "masks", 1)
    runner = CliRunner()
    for network, source, message in [(mask_net, "images", "must be single-channel"),
                                      (tiny_checkpoint, "masks", "holds nucleus masks (.npy/.npz)")]:
        result = runner.invoke(translate_command, ["run", "--network", str(network), "--source",
                                                   str(tmp_path / source), "--out", str(tmp_path / "o")])
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert message in result.output and "--source" in result.output
        assert not (tmp_path / "o").exists()
    (tmp_path / "jpgs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "jpgs" / "x.jpg")
    result = runner.invoke(translate_command, ["run", "--network", str(mask_net), "--source",
                                               str(tmp_path / "jpgs"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no mask files" in result.output and not (tmp_path / "o").exists()
