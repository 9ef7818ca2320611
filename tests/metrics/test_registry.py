"""Metric names: the reference's table, the count grammar, and what each name means."""

import pytest

from thygan.metrics.registry import METRICS
from thygan.metrics.specs import parse_metric_name


@pytest.mark.parametrize("name, kind, num_gen, max_real, extra", [
    ("fid50k_full", "fid", 50000, None, {}),
    ("kid50k_full", "kid", 50000, 1_000_000, {}),
    ("pr50k3_full", "pr", 50000, 200_000, {"nhood_size": 3}),
    ("is50k", "is", 50000, None, {}),
    ("fid50k", "fid", 50000, 50000, {}),
    ("fid2k_full", "fid", 2000, None, {}),
    ("fid500_full", "fid", 500, None, {}),
    ("kid1k_full_perclass", "kid", 1000, 1_000_000, {"per_class": True}),
    ("pr2k5", "pr", 2000, 2000, {"nhood_size": 5}),
    ("is10k", "is", 10000, None, {}),
])
def test_names_resolve_to_their_meaning(name, kind, num_gen, max_real, extra):
    assert name in METRICS
    spec = METRICS.get(name)
    assert (spec.name, spec.kind, spec.num_gen, spec.max_real) == (name, kind, num_gen, max_real)
    for key, value in extra.items():
        assert getattr(spec, key) == value


@pytest.mark.parametrize("name", ["fid9000_nonsense", "fid0_full", "fid1_full", "pr503", "pr3k3x", "is5",
                                  "fidk_full", "kid2k_full_perclass_full", "ppl2_wend"])
def test_other_names_are_refused(name):
    assert name not in METRICS
    assert parse_metric_name(name) is None
    with pytest.raises(KeyError, match="unknown metric.*fid50k_full.*fid<N>"):
        METRICS.get(name)


def test_reference_names_are_registered_in_the_table():
    registered = METRICS.names()
    for name in ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k", "fid50k_full_perclass"):
        assert name in registered


def test_result_keys_follow_the_reference():
    assert METRICS.get("pr50k3_full").result_keys() == ["pr50k3_full_precision", "pr50k3_full_recall"]
    assert METRICS.get("is50k").result_keys() == ["is50k_mean", "is50k_std"]
    assert METRICS.get("fid2k_full_perclass").result_keys() == ["fid2k_full_perclass_mean"]


@pytest.mark.parametrize("name, full, mirrored_reals", [
    ("fid50k_full", True, False), ("kid50k_full", True, False), ("pr50k3_full", True, False),
    ("fid2k_full_perclass", True, False), ("is50k", False, False),
    ("fid50k", False, True), ("kid50k", False, True), ("pr50k3", False, True), ("fid2k_perclass", False, True),
])
def test_only_legacy_metrics_keep_a_mirrored_datasets_copies(name, full, mirrored_reals):
    # metric_main.py: the ADA-paper metrics and is50k set xflip=False; fid50k/kid50k/pr50k3 keep xflip.
    spec = METRICS.get(name)
    assert (spec.full, spec.mirrored_reals) == (full, mirrored_reals)
