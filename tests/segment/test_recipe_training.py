"""`thygan segment train --recipe`: synthetic pairs join the real samples; bad recipes stop before any image."""

import json

import numpy as np
import pytest
import torch

from tests.segment.test_cli import assert_user_error, run
from tests.segment.test_training import options, small_data
from thygan.errors import UserError
from thygan.segment.data import read_dataset
from thygan.segment.synthetic import synthetic_samples
from thygan.segment.training_loop import training_loop
from thygan.translate.inference import translate_images
from thygan.translate.networks import build_generator

TINY_FLAGS = ["--mode", "fast", "--width", "0.125", "--blocks", "1,1,1,1", "--input-size", "128", "--nr-types", "3",
              "--device", "cpu"]


@pytest.fixture
def setup(tmp_path):
    """Real data (two 64 px tiles, types 2), an H&E -> H&E generator and a recipe translating the real tiles."""
    from thygan.translate.generator_file import save_generator

    small_data(tmp_path / "data")
    torch.manual_seed(0)
    G = build_generator("resnet_6blocks", input_nc=3, ngf=4).eval()
    network = save_generator(tmp_path / "nets" / "he2ihc", G)
    recipe = write(tmp_path / "recipe.json", {"sources": [
        {"kind": "translated", "network": str(network), "data": str(tmp_path / "data"), "nr_types": 3}]})
    return G, network, recipe


def write(path, content):
    path.write_text(json.dumps(content))
    return str(path)


def test_synthetic_samples_are_the_translated_tiles_with_their_masks(tmp_path, setup):
    G, _, recipe = setup
    real = read_dataset(tmp_path / "data", nr_types=3)
    lines = []
    samples = synthetic_samples(recipe, real_count=len(real), nr_types=3, cache_dir=tmp_path / "cache",
                                log=lines.append)
    assert len(samples) == 2 and "2 synthetic training images added to 2 real ones" in lines[-1]
    for sample, source in zip(samples, real):
        np.testing.assert_array_equal(sample.inst, source.inst)
        np.testing.assert_array_equal(sample.types, source.types)
        np.testing.assert_array_equal(sample.image, translate_images(G, [source.image], device="cpu")[0])
    # a run with fewer types than the pairs carry is refused, naming the pair
    with pytest.raises(UserError, match="has nucleus type 2, but --nr-types 2 allows types 0-1"):
        synthetic_samples(recipe, real_count=2, nr_types=2, cache_dir=tmp_path / "cache", log=lines.append)


@pytest.mark.slow
def test_training_logs_the_counts_and_reuses_the_cache(tmp_path, setup):
    _, _, recipe = setup
    opts = options(tmp_path, "runs")
    opts.recipe, opts.epochs = recipe, [1, 0]
    first = training_loop(opts, verbose=False)
    log = (first / "log.txt").read_text()
    assert "translated: 2 tiles" in log and "(0 cached, 2 translated)" in log
    assert "2 synthetic training images added to 2 real ones" in log
    assert len(list((tmp_path / "runs" / "synthetic_cache").glob("*-translated/*.npy"))) == 2
    second = training_loop(opts, verbose=False)
    assert second != first and "(2 cached, 0 translated)" in (second / "log.txt").read_text()
    assert json.loads((second / "options.json").read_text())["recipe"] == recipe


@pytest.mark.parametrize(("entry", "fragments"), [
    ({"kind": "pix2pix_mask", "network": "x"}, ["recipe.json: sources[0]: unknown synthetic source kind"]),
    ({"kind": "gan", "classes": [0], "seeds": ["0-2"], "network": "g.pkl", "class_map": [0]},
     ["--recipe", "source 1 (gan g.pkl) yields no masks", "pix2pix_masks, pseudo_labelled, translated"]),
    ("mask_generator", ["sources[0]", "is a generator from 3 to 3 channels, not a pix2pix mask -> H&E"]),
])
def test_bad_recipes_are_one_line_before_any_folder_or_image(tmp_path, setup, entry, fragments):
    _, network, _ = setup
    if entry == "mask_generator":  # an image generator where a mask one is needed
        entry = {"kind": "pix2pix_masks", "network": str(network), "masks": str(tmp_path / "data" / "Labels"),
                 "mask_types": 3, "seeds": 2}
    recipe = write(tmp_path / "recipe.json", {"sources": [entry]})
    result = run(["segment", "train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs"),
                  "--recipe", recipe, *TINY_FLAGS])
    assert_user_error(result, *fragments)
    assert not (tmp_path / "runs").exists()


def test_dry_run_plans_the_recipe_and_makes_nothing(tmp_path, setup):
    _, _, recipe = setup
    result = run(["segment", "train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs"),
                  "--recipe", recipe, *TINY_FLAGS, "-n"])
    assert result.exit_code == 0, result.output
    assert "2 training images + 2 planned from the recipe; dry run" in result.output
    assert not (tmp_path / "runs").exists()


def test_the_shipped_example_recipe_parses_and_plans_by_ratio():
    from pathlib import Path

    from thygan.sources.recipe import read_recipe

    path = Path(__file__).resolve().parents[2] / "data" / "segment_recipes" / "pannuke_pix2pix.json"
    recipe = read_recipe(path)
    assert [source.kind for source in recipe.sources] == ["pix2pix_masks", "pseudo_labelled"]
    assert all(source.yields_masks for source in recipe.sources)
    assert recipe.sources[0].plan({0: 300}) == {0: 300}  # "100%" of the real images


@pytest.mark.slow
def test_two_processes_share_one_materialisation(tmp_path, setup):
    """Rank 0 makes the pairs while rank 1 waits, then both train on them (no hang, one set of files)."""
    from thygan.segment.training_loop import launch_training

    _, _, recipe = setup
    opts = options(tmp_path, "two")
    opts.recipe, opts.epochs, opts.patches_per_epoch = recipe, [1, 0], 2
    run_dir = launch_training(opts, gpus=2, verbose=False)
    assert "(0 cached, 2 translated)" in (run_dir / "log.txt").read_text()
    files = sorted(p.name for p in (tmp_path / "two" / "synthetic_cache").rglob("*") if p.is_file())
    assert files == ["00000.npy", "00000.png", "00001.npy", "00001.png", "cache.json"]  # no temp file left
