"""Snapshot pairs in a run folder: names, the newest complete pair, and a rewrite under the same name
that survives a kill at any point. Tiny stand-in networks keep each test well under a second."""

import pytest
import torch

from dnnlib.run_dir import indexed_name, parse_indexed_name
from tests.io.stand_in import TinyGenerator, tiny_registry
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from thygan.runs import (
    SnapshotNames,
    kimg_index,
    latest_snapshot,
    latest_snapshot_json,
    load_training_state,
    save_training_state,
    state_files,
    write_pair,
)

EPOCHS = SnapshotNames(snapshot="model-snapshot", state="training-state")


def tiny_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return TinyGenerator()


def write(run_dir, index, *, seed=0, decimals=0, names=EPOCHS, state=True):
    net = tiny_net(seed)
    opt = torch.optim.Adam(net.parameters())
    return write_pair(run_dir, index, decimals=decimals, names=names,
                      write_state=(lambda stem: save_training_state(stem, optimizers={"net": opt}, tensors={},
                                                                    counters={"epoch": index})) if state else None,
                      write_snapshot=lambda stem: save_checkpoint(stem, networks={"G": net}, cur_nimg=seed,
                                                                 registry=tiny_registry()))


@pytest.mark.parametrize("index, decimals, name", [(400, 0, "network-snapshot-000400"),
                                                    (0.016, 3, "network-snapshot-000000.016"),
                                                    (12.5, 3, "network-snapshot-000012.500")])
def test_names_round_trip(index, decimals, name):
    assert indexed_name("network-snapshot", index, decimals=decimals) == name
    for suffix in ("", ".json", ".safetensors", ".json.prev", ".pkl"):
        assert parse_indexed_name(name + suffix, "network-snapshot") == index
    assert parse_indexed_name("network-snapshot-12a.json", "network-snapshot") is None
    assert parse_indexed_name("other-000400.json", "network-snapshot") is None


def test_kimg_index_keeps_reference_names_and_separates_fractional_snapshots():
    assert kimg_index(400_032, fractional=False) == (400, 0)  # the reference truncates to whole kimg
    indices = [kimg_index(nimg, fractional=True) for nimg in (4, 8, 12, 16)]
    names = {indexed_name("network-snapshot", index, decimals=decimals) for index, decimals in indices}
    assert len(names) == 4  # the bug: all four were network-snapshot-000000


def test_latest_snapshot_prefers_the_highest_complete_pair(tmp_path):
    assert latest_snapshot(tmp_path, names=EPOCHS) is None
    write(tmp_path, 1)
    write(tmp_path, 2, seed=2)
    assert latest_snapshot(tmp_path, names=EPOCHS) == tmp_path / "model-snapshot-000002.safetensors"
    assert not (tmp_path / "training-state-000001.json").exists()  # only the last state is kept
    (tmp_path / "model-snapshot-000003.safetensors").write_bytes(b"torn")  # killed before its JSON
    assert latest_snapshot(tmp_path, names=EPOCHS).name == "model-snapshot-000002.safetensors"
    write(tmp_path, 10, state=False)  # weights only: a pair with a state still wins
    assert latest_snapshot(tmp_path, names=EPOCHS).name == "model-snapshot-000002.safetensors"
    assert state_files(tmp_path / "model-snapshot-000010.safetensors", names=EPOCHS) is None


def test_training_state_round_trip_restores_the_optimizer(tmp_path):
    net = tiny_net(0)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.ones(2, 4)).sum().backward()
    opt.step()
    save_training_state(tmp_path / "s", optimizers={"net": opt}, tensors={"extra": {"x": torch.arange(3)}},
                        counters={"epoch": 7})
    fresh = torch.optim.Adam(net.parameters(), lr=0.5)
    counters, tensors = load_training_state(tmp_path / "s.safetensors", optimizers={"net": fresh})
    assert counters == {"epoch": 7} and torch.equal(tensors["extra"]["x"], torch.arange(3))
    assert fresh.param_groups[0]["lr"] == 0.01
    for before, after in zip(opt.state_dict()["state"].values(), fresh.state_dict()["state"].values()):
        assert all(torch.equal(before[k], after[k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def pair(run_dir):
    snapshot_weights, snapshot_json = checkpoint_paths(run_dir / "model-snapshot-000005")
    state_weights, state_json = checkpoint_paths(run_dir / "training-state-000005")
    return [snapshot_json, snapshot_weights, state_json, state_weights]


@pytest.mark.parametrize("files_rewritten", [0, 1, 2, 3])
def test_unfinished_rewrite_restores_the_previous_pair(tmp_path, files_rewritten):
    write(tmp_path, 5, seed=1)
    files = pair(tmp_path)
    before = {path.name: path.read_bytes() for path in files}

    def killed(stem):  # the rewrite set the pair aside, then died after writing some of the new files
        for path in reversed(files[1:][-files_rewritten:] if files_rewritten else []):
            path.write_bytes(b"torn")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_pair(tmp_path, 5, names=EPOCHS, write_state=killed, write_snapshot=lambda stem: None)
    prev = sorted(tmp_path.glob("*.prev"))
    assert prev
    latest_snapshot_json(tmp_path, names=EPOCHS)  # a reader of a live run moves nothing
    assert sorted(tmp_path.glob("*.prev")) == prev
    snapshot = latest_snapshot(tmp_path, names=EPOCHS)
    assert snapshot == files[1]
    assert {path.name: path.read_bytes() for path in files} == before
    assert not list(tmp_path.glob("*.prev"))
    assert load_checkpoint(snapshot, registry=tiny_registry()).cur_nimg == 1


def test_finished_rewrite_drops_the_set_aside_pair(tmp_path):
    write(tmp_path, 5, seed=1)
    write(tmp_path, 5, seed=2)
    assert not list(tmp_path.glob("*.prev"))
    assert load_checkpoint(latest_snapshot(tmp_path, names=EPOCHS), registry=tiny_registry()).cur_nimg == 2
