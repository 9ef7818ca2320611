"""gan_params recipes: the study's eight files, the extensions, bad recipes, generation and its cache."""

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from thygan.data.recipes import parse_recipe, read_recipe, recipe_name, resolve_seeds, synthetic_images
from thygan.errors import UserError

REPO = Path(__file__).resolve().parents[2]
GAN_PARAMS = REPO / "data" / "gan_params"
BI, MC = "models/gan_bi_017539.pkl", "models/gan_mc_014112.pkl"
# name -> (GAN classes, images per class (end-exclusive ranges from 0), network, class_map): the study's files.
STUDY = {
    "cv_bi100": ([0, 1], [510, 400], BI, [0, 1]),
    "cv_bi200": ([0, 1], [1020, 800], BI, [0, 1]),
    "cv_mc": ([0, 1, 2, 4], [10, 276, 274, 130], MC, [1, 1, 1, 0]),
    "cv_mc100": ([0, 1, 2, 3, 4], [330, 596, 594, 320, 450], MC, [1, 1, 1, 0, 0]),
    "full_bi100": ([0, 1], [680, 533], BI, [0, 1]),
    "full_bi200": ([0, 1], [1360, 1066], BI, [0, 1]),
    "full_mc": ([0, 1, 2, 4], [17, 356, 354, 160], MC, [1, 1, 1, 0]),
    "full_mc100": ([0, 1, 2, 3, 4], [437, 776, 774, 420, 580], MC, [1, 1, 1, 0, 0]),
}


def test_the_eight_study_files_are_shipped():
    assert sorted(p.stem for p in GAN_PARAMS.glob("*.json")) == sorted(STUDY)


@pytest.mark.parametrize("name", sorted(STUDY))
def test_study_recipe_parses_with_end_exclusive_seeds(name):
    classes, counts, network, class_map = STUDY[name]
    recipe = read_recipe(GAN_PARAMS / f"{name}.json")
    assert recipe.name == name and recipe.network == network and recipe.truncation == 1.0
    assert [e.gan_class for e in recipe.entries] == classes
    assert [e.label for e in recipe.entries] == class_map
    assert [e.seeds for e in recipe.entries] == [tuple(range(n)) for n in counts]


def recipe(**changes) -> dict:
    return {"classes": [0, 1], "seeds": ["0-3", "0-2"], "network": ["net.pkl"], "class_map": [0, 1]} | changes


def test_extensions_counts_lists_ratios_truncation():
    parsed = parse_recipe(recipe(seeds=[5, "2,7,9"], network="net.pkl", truncation=0.7), name="x", source="x")
    assert parsed.entries[0].seeds == (0, 1, 2, 3, 4) and parsed.entries[1].seeds == (2, 7, 9)
    assert parsed.truncation == 0.7 and parsed.network == "net.pkl"
    ratio = parse_recipe(recipe(seeds=["100%", "50%"]), name="x", source="x")
    resolved = resolve_seeds(ratio, {0: 7, 1: 5})
    assert [len(seeds) for _, seeds in resolved] == [7, 2]  # round(0.5 * 5) = 2 (half to even)
    assert parse_recipe(recipe(seeds=["10-13", "0-0"]), name="x", source="x").entries[0].seeds == (10, 11, 12)


@pytest.mark.parametrize("value", [None, "none", "None", ""])
def test_no_recipe(value):
    assert read_recipe(value) is None and recipe_name(value) == "none"


@pytest.mark.parametrize("content,message", [
    (recipe(seeds=["0-3"]), "same length"),
    (recipe(class_map=[0]), "same length"),
    (recipe(seeds=["0-3", "zero-2"]), r"seeds\[1\]: malformed seeds 'zero-2'"),
    (recipe(seeds=["5-3", "0-2"]), "runs backwards"),
    (recipe(seeds=[-1, 2]), "cannot be negative"),
    (recipe(classes=[1, 1]), "listed twice"),
    (recipe(classes=["a", 1]), "'classes' must be a non-empty list"),
    (recipe(network=["a.pkl", "b.pkl"]), "'network' must be one path"),
    (recipe(truncation="high"), "'truncation' must be a number"),
    (recipe(sedes=["0-1"]), "unknown key 'sedes'"),
    ({"classes": [0], "seeds": ["0-1"], "class_map": [0]}, "missing key 'network'"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_recipes_fail_with_clear_messages(content, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError, match=message) as info:
        read_recipe(path)
    assert str(info.value).startswith(str(path))


def test_unreadable_and_missing_recipe_files(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UserError, match="cannot read gan_params JSON"):
        read_recipe(tmp_path / "broken.json")
    with pytest.raises(UserError, match="no such gan_params file"):
        read_recipe(tmp_path / "absent.json")


def test_missing_network_is_named(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe(network=["models/absent.pkl"])))
    with pytest.raises(UserError, match="network 'models/absent.pkl' not found"):
        synthetic_images(read_recipe(path), {0: 1, 1: 1}, cache_dir=tmp_path / "cache", log=lambda line: None)


@pytest.fixture
def tiny_generator_file(tmp_path):
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=2, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16)).eval()
    stem = tmp_path / "nets" / "tiny"
    save_checkpoint(stem, networks={"G_ema": G})
    return G, stem.with_suffix(".safetensors")


def test_class_not_in_the_network(tmp_path, tiny_generator_file):
    _, network = tiny_generator_file
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe(classes=[0, 2], network=[str(network)])))
    with pytest.raises(UserError, match="class 2 is not in the network"):
        synthetic_images(read_recipe(path), {}, cache_dir=tmp_path / "cache", log=lambda line: None)


def test_generation_is_cached_per_network_class_and_seed(tmp_path, tiny_generator_file):
    from thygan.stylegan.sampling import synthesize

    G, network = tiny_generator_file
    path = tmp_path / "nets" / "r.json"
    path.write_text(json.dumps(recipe(seeds=["0-3", 2], network=["tiny.safetensors"])))  # beside the recipe
    lines = []
    pairs = synthetic_images(read_recipe(path), {0: 3, 1: 2}, cache_dir=tmp_path / "cache", log=lines.append)
    assert [label for _, label in pairs] == [0, 0, 0, 1, 1]
    assert [p.name for p, _ in pairs] == ["seed0000.jpeg", "seed0001.jpeg", "seed0002.jpeg", "seed0000.jpeg",
                                          "seed0001.jpeg"]
    assert "3 images (0 cached, 3 generated)" in lines[0]
    # the cached file is the generator's image of that seed and class, JPEG-encoded as Pillow does
    (_, expected), = synthesize(G, [1], 0)
    buffer = io.BytesIO()
    Image.fromarray(expected).save(buffer, format="JPEG")
    assert pairs[1][0].read_bytes() == buffer.getvalue()
    # a larger recipe on the same network reuses the first images and makes only the new ones
    before = pairs[0][0].stat().st_mtime_ns
    bigger = tmp_path / "nets" / "r2.json"
    bigger.write_text(json.dumps(recipe(seeds=["0-5", 2], network=[str(network)])))
    lines.clear()
    pairs2 = synthetic_images(read_recipe(bigger), {}, cache_dir=tmp_path / "cache", log=lines.append)
    assert len(pairs2) == 7 and "5 images (3 cached, 2 generated)" in lines[0]
    assert pairs[0][0].stat().st_mtime_ns == before
