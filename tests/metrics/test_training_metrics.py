"""Metrics during training: each snapshot appends the reference record and logs to stats.jsonl and
TensorBoard; a metric that cannot run here is skipped with a note; CPU presets default to fid2k_full;
detectors are checked at launch; *_full metrics ignore the run's --mirror and --subset."""

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner

from tests.metrics.conftest import TinyDetector, script, tiny_generator
from tests.metrics.test_evaluate import _fakes_by_hand, _scipy_fid, drawn_labels, features, png_images
from tests.stylegan.test_training import tiny_options
from thygan.cli.train import train_command
from thygan.errors import UserError
from thygan.metrics.evaluate import Detectors, MetricOptions
from thygan.metrics.inception import inception_from_module
from thygan.metrics.registry import run_metric_for_training
from thygan.stylegan.train_launch import _resolve_metrics, resolve_options
from thygan.stylegan.training_loop import training_loop
from thygan.stylegan.training_options import TrainFlags


@pytest.fixture
def inception_loads(monkeypatch) -> list:
    """Every Inception file load of this test (the process-wide detector cache starts empty)."""
    from thygan.metrics import evaluate

    loads = []
    real_load = evaluate.load_inception
    monkeypatch.setattr(evaluate, "load_inception", lambda *args, **kwargs: loads.append(args) or
                        real_load(*args, **kwargs))
    monkeypatch.setattr(evaluate, "_LOADED", {})
    return loads


REFERENCE_KEYS = ["results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
                  "timestamp"]


@pytest.mark.slow  # a tiny training run: ~10-25 s on 2 shared cores, mostly the training itself
def test_metrics_at_every_snapshot(tiny_data, detector_file, tmp_path, monkeypatch, inception_loads):
    monkeypatch.setenv("THYGAN_DETECTOR", str(detector_file))
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    training_loop(tiny_options(tiny_data, metrics=["fid8_full"]), run_dir, max_steps=2)
    assert len(inception_loads) == 1  # one Inception for both snapshots
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


def test_full_metrics_ignore_the_runs_mirror_and_subset(tiny_data, detector_file, tmp_path):
    G = tiny_generator()
    data = dataclasses.replace(tiny_options(tiny_data).data, xflip=True, max_size=4)  # --mirror=1 --subset=4
    options = MetricOptions(detector=str(detector_file), cache_dir=str(tmp_path / "cache"))
    record = run_metric_for_training("fid10_full", G_ema=G, data=data, run_dir=tmp_path, device="cpu",
                                     snapshot_path=tmp_path / "network-snapshot-000000.safetensors",
                                     options=options)
    # By hand: all 12 images of the folder, read with PIL, none mirrored (the reference's max_size=None,
    # xflip=False); the same TinyDetector weights as the file.
    detector = inception_from_module(TinyDetector())
    expected = _scipy_fid(features(detector, png_images(tiny_data)), _fakes_by_hand(G, drawn_labels(10), detector))
    assert record["results"]["fid10_full"] == pytest.approx(expected, rel=1e-6)


class BrokenDetector(torch.nn.Module):
    """Loads fine, fails on the first batch (as a detector running out of memory would)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("detector broke")


@pytest.mark.parametrize("failure", ["file removed after launch", "fails during the pass"])
def test_a_detector_failing_at_a_snapshot_is_logged_and_training_goes_on(tiny_data, tmp_path, capsys,
                                                                        monkeypatch, failure):
    path = tmp_path / "detector.pt"
    if failure == "fails during the pass":
        script(BrokenDetector()).save(str(path))
    monkeypatch.setenv("THYGAN_DETECTOR", str(path))
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "cache"))
    record = run_metric_for_training("fid10_full", G_ema=tiny_generator(), data=tiny_options(tiny_data).data,
                                     snapshot_path=tmp_path / "network-snapshot-000008.safetensors",
                                     run_dir=tmp_path, device="cpu")
    assert record is None
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: fid10_full skipped at network-snapshot-000008")
    if failure == "file removed after launch":
        assert f"$THYGAN_DETECTOR: no such file '{path}'" in notes[0] and "--detector" not in notes[0]
    else:
        assert notes[0].endswith("RuntimeError: detector broke")
    assert not list(tmp_path.glob("metric-*.jsonl"))


@pytest.mark.parametrize("metrics, env, message", [
    ("fid2k_full", "THYGAN_DETECTOR", "--metrics: fid2k_full: $THYGAN_DETECTOR: no such file 'MISSING'"),
    ("fid2k_full,pr2k3", "THYGAN_VGG16", "--metrics: pr2k3: unavailable: precision/recall needs VGG16 weights"),
])
def test_launch_refuses_requested_metrics_whose_detector_is_missing(tiny_data, tmp_path, monkeypatch, metrics,
                                                                    env, message):
    missing = tmp_path / "missing.pt"
    monkeypatch.delenv("THYGAN_VGG16", raising=False)
    monkeypatch.delenv("THYGAN_DETECTOR", raising=False)
    if env == "THYGAN_DETECTOR":
        monkeypatch.setenv(env, str(missing))
    result = CliRunner().invoke(train_command, [f"--outdir={tmp_path / 'runs'}", f"--data={tiny_data}",
                                               "--cfg=cpu32", "--cond=1", f"--metrics={metrics}", "-n"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + message.replace("MISSING", str(missing)))
    assert env in lines[0] and "--detector" not in lines[0] and "--vgg16" not in lines[0]
    assert not (tmp_path / "runs").exists()


def test_default_metrics_without_a_detector_are_dropped_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THYGAN_DETECTOR", str(tmp_path / "missing.pt"))
    assert _resolve_metrics(None, "cpu32") == []
    out = capsys.readouterr().out
    assert out.startswith("note: default metrics fid2k_full are not available here") and "THYGAN_DETECTOR" in out
    assert len(out.strip().splitlines()) == 1
    with pytest.raises(UserError, match="^--metrics: fid2k_full: .THYGAN_DETECTOR: no such file"):
        _resolve_metrics("fid2k_full", "cpu32")


def test_each_detector_is_loaded_once_per_process(tiny_data, detector_file, tmp_path, monkeypatch, inception_loads):
    """The launch check, two metrics and two snapshots share one loaded Inception."""
    monkeypatch.setenv("THYGAN_DETECTOR", str(detector_file))
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "cache"))
    assert _resolve_metrics("fid8_full,fid10_full", "cpu32") == ["fid8_full", "fid10_full"]  # at launch
    detectors = Detectors(MetricOptions(device="cpu"), flags=False)  # the run's, as training_loop's
    G, data = tiny_generator(), tiny_options(tiny_data).data
    for kimg in (0, 4):
        for name in ("fid8_full", "fid10_full"):
            assert run_metric_for_training(name, G_ema=G, data=data, run_dir=tmp_path, device="cpu",
                                           snapshot_path=tmp_path / f"network-snapshot-{kimg:06d}.safetensors",
                                           detectors=detectors) is not None
    assert len(inception_loads) == 1
    other = tmp_path / "other.pt"
    other.write_bytes(detector_file.read_bytes())
    monkeypatch.setenv("THYGAN_DETECTOR", str(other))  # another file is another detector
    Detectors(MetricOptions(device="cpu"), flags=False).inception()
    assert len(inception_loads) == 2
