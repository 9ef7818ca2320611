"""Recipe files: the study's eight gan_params files, the extensions, the multi-source form, bad recipes."""

import json
from pathlib import Path

import pytest

from thygan.errors import UserError
from thygan.sources.gan import GanSource
from thygan.sources.recipe import parse_recipe, read_recipe, recipe_name
from thygan.sources.registry import SOURCE_KINDS

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
def test_study_recipe_parses_as_one_gan_source_with_end_exclusive_seeds(name):
    classes, counts, network, class_map = STUDY[name]
    recipe = read_recipe(GAN_PARAMS / f"{name}.json")
    assert recipe.name == name and len(recipe.sources) == 1
    source, = recipe.sources
    assert isinstance(source, GanSource) and source.network == network and source.truncation == 1.0
    assert [e.gan_class for e in source.entries] == classes
    assert [e.label for e in source.entries] == class_map
    assert [e.seeds for e in source.entries] == [tuple(range(n)) for n in counts]
    # the plan adds up the classes that share a label, without opening the (absent) network
    expected = {}
    for label, count in zip(class_map, counts):
        expected[label] = expected.get(label, 0) + count
    assert recipe.plan({}) == expected


def recipe(**changes) -> dict:
    return {"classes": [0, 1], "seeds": ["0-3", "0-2"], "network": ["net.pkl"], "class_map": [0, 1]} | changes


def parse(content) -> GanSource:
    return parse_recipe(content, name="x", source="x").sources[0]


def test_extensions_counts_lists_ratios_truncation():
    parsed = parse(recipe(seeds=[5, "2,7,9"], network="net.pkl", truncation=0.7))
    assert parsed.entries[0].seeds == (0, 1, 2, 3, 4) and parsed.entries[1].seeds == (2, 7, 9)
    assert parsed.truncation == 0.7 and parsed.network == "net.pkl"
    ratio = parse(recipe(seeds=["100%", "50%"]))
    assert [len(seeds) for _, seeds in ratio.resolve_seeds({0: 7, 1: 5})] == [7, 2]  # round(2.5) = 2 (to even)
    assert ratio.plan({0: 7, 1: 5}) == {0: 7, 1: 2}
    assert parse(recipe(seeds=["10-13", "0-0"])).entries[0].seeds == (10, 11, 12)


def test_a_ratio_for_a_label_without_real_images_is_refused_by_the_plan():
    with pytest.raises(UserError, match="a ratio for label 1, but the training set has no real images"):
        parse_recipe(recipe(seeds=["100%", "100%"]), name="x", source="x").plan({0: 4})


@pytest.mark.parametrize("value", [None, "none", "None", ""])
def test_no_recipe(value):
    assert read_recipe(value) is None and recipe_name(value) == "none"


def test_several_sources_in_one_recipe_add_up(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"sources": [recipe(), {"kind": "gan", **recipe(classes=[2, 3], seeds=[4, 1])}]}))
    parsed = read_recipe(path)
    assert [s.kind for s in parsed.sources] == ["gan", "gan"] and parsed.labels() == {0, 1}
    assert parsed.plan({}) == {0: 3 + 4, 1: 2 + 1}
    assert parsed.sources[1].context.where == f"{path}: sources[1]"
    assert parsed.sources[0].context.folder == tmp_path


def test_the_registry_names_the_gan_kind():
    assert SOURCE_KINDS.get("gan") is GanSource and GanSource.kind == "gan"


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
    (recipe(kind="pix2pox"),
     "unknown synthetic source kind 'pix2pox' \\(known: gan, pix2pix_masks, pseudo_labelled, translated\\)"),
    (recipe(kind=3), "'kind' must be a name"),
    ({"sources": []}, "'sources' must be a non-empty list"),
    ({"sources": [recipe()], "network": "x"}, "has no other keys, got 'network'"),
    ({"sources": [recipe(), recipe(seeds=["0-3"])]}, r"sources\[1\]: 'classes', 'seeds' and 'class_map'"),
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
