"""Metrics during training: each snapshot appends the reference record and logs to stats.jsonl and
TensorBoard; a metric that cannot run here is skipped with a note; CPU presets default to fid2k_full."""

import json

import pytest

from tests.stylegan.test_training import tiny_options
from thygan.metrics.registry import run_metric_for_training
from thygan.stylegan.train_launch import resolve_options
from thygan.stylegan.train_setup import TrainFlags
from thygan.stylegan.training_loop import training_loop

REFERENCE_KEYS = ["results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
                  "timestamp"]


@pytest.mark.slow  # a tiny training run: ~10-25 s on 2 shared cores, mostly the training itself
def test_metrics_at_every_snapshot(tiny_data, detector_file, tmp_path, monkeypatch):
    monkeypatch.setenv("THYGAN_DETECTOR", str(detector_file))
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    training_loop(tiny_options(tiny_data, metrics=["fid8_full"]), run_dir, max_steps=2)
    snapshots = sorted(p.name for p in run_dir.glob("network-snapshot-*.safetensors"))
    records = [json.loads(line) for line in (run_dir / "metric-fid8_full.jsonl").read_text().splitlines()]
    assert len(records) == 2  # tick 0 and the final snapshot
    for record in records:
        assert list(record) == REFERENCE_KEYS
        assert record["metric"] == "fid8_full" and record["snapshot_pkl"] in snapshots
        assert list(record["results"]) == ["fid8_full"] and record["results"]["fid8_full"] >= 0
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    logged = [line["Metrics/fid8_full"]["mean"] for line in stats if "Metrics/fid8_full" in line]
    assert logged == [r["results"]["fid8_full"] for r in records]
    assert all("Timing/sec_per_tick" in line for line in stats)  # tick records stay complete
    assert list(run_dir.glob("events.out.tfevents.*.metrics"))


def test_unavailable_metric_is_skipped_with_a_note(tiny_data, tmp_path, capsys, monkeypatch):
    from tests.metrics.conftest import tiny_generator

    monkeypatch.delenv("THYGAN_VGG16", raising=False)
    opts = tiny_options(tiny_data)
    record = run_metric_for_training("pr10k3", G_ema=tiny_generator(), data=opts.data,
                                     snapshot_path=tmp_path / "network-snapshot-000000.safetensors",
                                     run_dir=tmp_path, device="cpu")
    assert record is None and "pr10k3: unavailable" in capsys.readouterr().out
    assert not list(tmp_path.glob("metric-*.jsonl"))


def test_cpu_presets_default_to_a_small_fid(tiny_data):
    flags = TrainFlags(data=str(tiny_data), cfg="cpu32", cond=True, batch=4, workers=0, device="cpu")
    opts, _ = resolve_options(flags)
    assert opts.metrics == ["fid2k_full"]
