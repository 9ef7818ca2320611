"""Content hashes (bytes, not paths; remembered per file stats) and the atomic npz files."""

import json
import os
import shutil

import numpy as np

from thygan.metrics.stats_cache import cache_dir, content_hash, load_npz, save_npz


def test_hash_follows_content_not_location(tiny_data, tmp_path):
    copy = shutil.copytree(tiny_data, tmp_path / "elsewhere")
    assert content_hash(tiny_data) == content_hash(copy)
    image = copy / "00000" / "img00000003.png"
    data = bytearray(image.read_bytes())
    data[-20] ^= 1  # one bit of one image
    image.write_bytes(bytes(data))
    assert content_hash(copy) != content_hash(tiny_data)


def test_labels_are_part_of_the_content(tiny_data, tmp_path):
    copy = shutil.copytree(tiny_data, tmp_path / "relabelled")
    meta = json.loads((copy / "dataset.json").read_text())
    meta["labels"][0][1] = 2
    (copy / "dataset.json").write_text(json.dumps(meta))
    assert content_hash(copy) != content_hash(tiny_data)


def test_memo_is_reused_until_a_file_changes(tiny_data, tmp_path):
    cache = tmp_path / "cache"
    first = content_hash(tiny_data, cache=cache)
    memo = list((cache / "content-hashes").iterdir())
    assert len(memo) == 1
    memo[0].write_text("remembered\n")  # proves the second call reads the memo instead of hashing
    assert content_hash(tiny_data, cache=cache) == "remembered"
    image = tiny_data / "00000" / "img00000000.png"
    os.utime(image, ns=(0, 123456789))
    assert content_hash(tiny_data, cache=cache) == first


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("THYGAN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "thygan" / "metrics"


def test_npz_round_trip_and_damaged_files(tmp_path):
    arrays = {"count": np.array(3), "mean": np.arange(4.0)}
    save_npz(tmp_path / "a.npz", arrays)
    loaded = load_npz(tmp_path / "a.npz")
    assert loaded.keys() == arrays.keys() and np.array_equal(loaded["mean"], arrays["mean"])
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temp file left behind
    (tmp_path / "b.npz").write_bytes(b"truncated")
    assert load_npz(tmp_path / "b.npz") is None and load_npz(tmp_path / "c.npz") is None
