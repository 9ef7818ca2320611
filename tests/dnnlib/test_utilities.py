"""dnnlib: number ranges, registry, run folders, durations."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnnlib import EasyDict, Registry, parse_num_range
from dnnlib.duration import format_duration
from dnnlib.run_dir import make_run_dir, next_run_id


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 20)), min_size=1, max_size=6))
def test_num_range_expands_inclusive_ranges_in_order(parts):
    text = ",".join(f"{lo}-{lo + n}" if n else str(lo) for lo, n in parts)
    expected = [k for lo, n in parts for k in range(lo, lo + n + 1)]
    assert parse_num_range(text) == expected


@pytest.mark.parametrize("text, message", [("5-2", "runs backwards"), ("a", "not a non-negative"),
                                           ("1,,2", "not a non-negative"), ("-3", "not a non-negative")])
def test_num_range_rejects_malformed_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_num_range(text)


def test_registry_and_easydict():
    registry = Registry("thing")
    registry.register("a", 1)
    assert registry.get("a") == 1 and "a" in registry and registry.names() == ["a"]
    with pytest.raises(KeyError, match="already registered"):
        registry.register("a", 2)
    with pytest.raises(KeyError, match="unknown thing 'b' \\(known: a\\)"):
        registry.get("b")
    d = EasyDict(x=1)
    d.y = 2
    assert d == {"x": 1, "y": 2} and d.x == 1
    with pytest.raises(AttributeError):
        _ = d.z


def test_run_dirs_count_up_from_existing_prefixes(tmp_path):
    (tmp_path / "00007-old").mkdir()
    (tmp_path / "notes").mkdir()
    assert next_run_id(tmp_path) == 8
    assert make_run_dir(tmp_path, "new").name == "00008-new"
    assert make_run_dir(tmp_path, "new").name == "00009-new"


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59.4, "59s"), (61, "1m 01s"), (3600, "1h 00m 00s"),
                                           (7509, "2h 05m 09s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
