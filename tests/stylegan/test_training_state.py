"""A snapshot pair rewritten under the same name survives a kill at any point of the rewrite."""

import pytest

from tests.stylegan.test_training import tiny_options
from thygan.io.checkpoint import load_checkpoint
from thygan.stylegan.training_loop import training_loop
from thygan.stylegan.training_state import _pair_files, _set_aside_pair, latest_snapshot


@pytest.fixture
def run_with_one_pair(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    training_loop(tiny_options(tiny_dataset), run_dir, max_steps=2)  # every snapshot is named kimg 0
    return run_dir


@pytest.mark.parametrize("files_rewritten", [0, 1, 2, 3])
def test_unfinished_rewrite_restores_the_previous_pair(run_with_one_pair, files_rewritten):
    run_dir = run_with_one_pair
    files = _pair_files(run_dir, 0)
    before = {path.name: path.read_bytes() for path in files}
    _set_aside_pair(run_dir, 0)
    # The rewrite writes state weights, state JSON, snapshot weights, then the snapshot JSON (the marker);
    # a kill before the marker leaves some of the others new (here: garbage).
    for path in reversed(files[1:]):
        if files_rewritten == 0:
            break
        path.write_bytes(b"torn")
        files_rewritten -= 1
    snapshot = latest_snapshot(run_dir)
    assert snapshot == files[1]
    assert {path.name: path.read_bytes() for path in files} == before
    assert not list(run_dir.glob("*.prev"))
    assert load_checkpoint(snapshot).cur_nimg == 8


def test_finished_rewrite_drops_the_set_aside_pair(run_with_one_pair):
    run_dir = run_with_one_pair
    files = _pair_files(run_dir, 0)
    contents = {path: path.read_bytes() for path in files}
    _set_aside_pair(run_dir, 0)
    for path in reversed(files):  # the new pair lands completely (same bytes stand in for new ones)
        path.write_bytes(contents[path])
    assert latest_snapshot(run_dir) == files[1]
    assert not list(run_dir.glob("*.prev"))


def test_training_leaves_no_set_aside_files(run_with_one_pair):
    assert not list(run_with_one_pair.glob("*.prev"))
    assert {path.name for path in run_with_one_pair.glob("network-snapshot-*")} == {
        "network-snapshot-000000.safetensors", "network-snapshot-000000.json"}
