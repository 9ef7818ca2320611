"""run_domain_gap end to end on two tiny colour domains: files, numbers, unions, determinism, reuse.

The figures drawn from its result are tested in tests/viz/test_gap_plots.py."""

import csv
import json

import numpy as np
import pytest

from tests.gap.conftest import TINY_EXTRACTOR, coloured_images, write_folder
from thygan.errors import UserError
from thygan.gap.analysis import DomainGapOptions, run_domain_gap
from thygan.gap.image_sets import parse_set_spec

OPTS = DomainGapOptions(extractor=TINY_EXTRACTOR, device="cpu", umap_epochs=30, min_class_size=5,
                        progress=False)


@pytest.fixture
def three_sets(two_domains, tmp_path):
    red, blue = two_domains
    reddish = write_folder(tmp_path / "red2", coloured_images(10, colour=(200, 60, 60), seed=9),
                           labels=[0] * 10, class_names=["a"])
    return [parse_set_spec(f"red={red}"), parse_set_spec(f"red 2={reddish}:color=orchid"),
            parse_set_spec(f"blue={blue}")]


def test_files_and_numbers(three_sets, tmp_path):
    result = run_domain_gap(three_sets, tmp_path / "out", unions=[("reds", ["red", "red 2"])], opts=OPTS)
    out = tmp_path / "out"
    for name in ("options.json", "gap.csv", "gap.md", "umap_coords.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.png")) and not list(out.glob("*.html"))  # drawing is viz's job
    assert result.set_names == ["red", "red 2", "blue"]
    assert len(list((out / "embeddings").glob("*.npz"))) == 3 and not list(out.glob(".*.tmp"))
    assert json.loads((out / "options.json").read_text())["options"]["extractor"] == TINY_EXTRACTOR
    pairs = [(r["set_a"], r["set_b"], r["class"]) for r in result.rows]
    # 'reds' is never compared with its own members; class 'a' is shared by red (12) and red 2 (10).
    assert pairs == [("red", "red 2", "all"), ("red", "red 2", "a"), ("red", "blue", "all"),
                     ("red 2", "blue", "all"), ("blue", "reds", "all")]
    by_pair = {(r["set_a"], r["set_b"], r["class"]): r for r in result.rows}
    # Red and blue tiles are told apart perfectly and share no neighbours; two red sets overlap.
    red_blue = by_pair["red", "blue", "all"]
    assert red_blue["domain_acc"] == 1.0 and red_blue["knn_overlap"] == 0
    assert by_pair["red", "red 2", "a"]["frechet"] < by_pair["red", "blue", "all"]["frechet"] / 100
    assert by_pair["blue", "reds", "all"]["n_b"] == 34
    coords = list(csv.DictReader((out / "umap_coords.csv").open()))
    assert len(coords) == 54 and coords[0]["set"] == "red" and coords[0]["class"] == "a"
    assert {row["class"] for row in coords if row["set"] == "blue"} == {""}
    assert result.coords_2d.shape == (54, 2) and result.coords_3d.shape == (54, 3)


def test_deterministic_and_reuses_the_cache(three_sets, tmp_path):
    first = run_domain_gap(three_sets, tmp_path / "a", opts=OPTS)
    cache = tmp_path / "a" / "embeddings"
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    opts = DomainGapOptions(**{**OPTS.__dict__, "cache_dir": str(cache)})
    second = run_domain_gap(three_sets, tmp_path / "b", opts=opts)
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")} == stamps  # nothing re-embedded
    assert not (tmp_path / "b" / "embeddings").exists()
    np.testing.assert_array_equal(first.coords_2d, second.coords_2d)
    np.testing.assert_array_equal(first.coords_3d, second.coords_3d)
    assert first.rows == second.rows
    assert (tmp_path / "a" / "gap.csv").read_bytes() == (tmp_path / "b" / "gap.csv").read_bytes()


@pytest.mark.parametrize("unions, message", [([("reds", ["red", "nope"])], "--union reds"),
                                             ([("red", ["red", "blue"])], "used twice")])
def test_bad_unions(three_sets, tmp_path, unions, message):
    with pytest.raises(UserError, match=message):
        run_domain_gap(three_sets, tmp_path / "out", unions=unions, opts=OPTS)
    assert not (tmp_path / "out").exists()


def test_needs_two_sets(three_sets, tmp_path):
    with pytest.raises(UserError, match="at least two"):
        run_domain_gap(three_sets[:1], tmp_path / "out", opts=OPTS)
    assert not (tmp_path / "out").exists()
