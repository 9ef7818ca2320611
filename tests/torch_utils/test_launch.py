"""torch_utils.launch: prepare runs once, work runs in every process of the group, and the result of
one process comes back; spawned CPU processes share the cores."""

import os
from pathlib import Path

import pytest
import torch

from torch_utils import distributed
from torch_utils.launch import launch, torchrun_world_size


def record_rank(folder: Path) -> str:
    info = distributed.process_info()
    total = distributed.all_reduce_sum_(torch.tensor([info.rank + 1.0]))  # the group really is joined
    (folder / f"rank{info.rank}.txt").write_text(f"{info.world_size} {total.item():g} {torch.get_num_threads()}")
    return f"rank {info.rank}"


def test_one_process_returns_what_work_returns(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    calls = []
    prepared, result = launch(prepare=lambda: calls.append(1) or tmp_path, work=record_rank, processes=1,
                              device_type="cpu")
    assert (prepared, result, calls) == (tmp_path, "rank 0", [1])
    assert (tmp_path / "rank0.txt").read_text().startswith("1 1 ")


@pytest.mark.slow
def test_spawned_processes_join_one_group(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    calls = []
    prepared, result = launch(prepare=lambda: calls.append(1) or tmp_path, work=record_rank, processes=2,
                              device_type="cpu")
    assert (prepared, result, calls) == (tmp_path, None, [1])
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert sorted(p.read_text() for p in tmp_path.glob("rank*.txt")) == [f"2 3 {threads}"] * 2


def test_world_size_must_be_a_number(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert torchrun_world_size() is None
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not a process count"):
        torchrun_world_size()
