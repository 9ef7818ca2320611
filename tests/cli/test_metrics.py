"""`thygan metrics` / calc_metrics.py: network and folder modes write the reference jsonl line; bad input
is one line on stderr with exit code 2 and writes nothing."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.metrics.conftest import TinyDetector, script, tiny_generator
from tests.stylegan.conftest import write_tiny_dataset
from thygan.cli.metrics import metrics_command
from thygan.io.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
REFERENCE_KEYS = ["results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
                  "timestamp"]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("THYGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("THYGAN_DETECTOR", raising=False)
    monkeypatch.delenv("THYGAN_VGG16", raising=False)
    data = write_tiny_dataset(tmp_path / "tiny")
    detector = tmp_path / "detector.pt"
    script(TinyDetector()).save(str(detector))
    run = tmp_path / "run"
    recorded = {"random_seed": 0, "data": {"path": str(data), "xflip": False, "max_size": None}}
    weights, _ = save_checkpoint(run / "network-snapshot-000004", networks={"G_ema": tiny_generator()},
                                 class_names=["class0", "class1", "class2"], training_options=recorded)
    return {"data": data, "detector": detector, "network": weights, "run": run, "tmp": tmp_path}


def invoke(*args):
    return CliRunner().invoke(metrics_command, [str(a) for a in args])


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_network_mode_appends_reference_records_beside_the_network(setup):
    args = ["--network", setup["network"], "--metrics=fid10_full,kid6_full_perclass", "--detector",
            setup["detector"], "--device=cpu", "--verbose=0"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    fid = read_jsonl(setup["run"] / "metric-fid10_full.jsonl")
    kid = read_jsonl(setup["run"] / "metric-kid6_full_perclass.jsonl")
    assert [list(r) for r in fid + kid] == [REFERENCE_KEYS] * 2
    assert fid[0]["snapshot_pkl"] == "network-snapshot-000004.safetensors" and fid[0]["num_gpus"] == 1
    assert list(kid[0]["results"]) == ["kid6_full_perclass_mean", "kid6_full_perclass_class0",
                                       "kid6_full_perclass_class1", "kid6_full_perclass_class2"]
    assert invoke(*args).exit_code == 0  # again: appended, and the same numbers (seeded, cached reals)
    again = read_jsonl(setup["run"] / "metric-fid10_full.jsonl")
    assert len(again) == 2 and again[1]["results"] == again[0]["results"]


def test_folder_mode_writes_to_outdir(setup):
    fake = shutil.copytree(setup["data"], setup["tmp"] / "fake")
    result = invoke("--real", setup["data"], "--fake", fake, "--metrics=fid12_full,is12", "--detector",
                    setup["detector"], "--outdir", setup["tmp"] / "scores", "--verbose=0")
    assert result.exit_code == 0, result.output
    record = read_jsonl(setup["tmp"] / "scores" / "metric-fid12_full.jsonl")[0]
    assert abs(record["results"]["fid12_full"]) < 1e-6 and record["snapshot_pkl"] == str(fake)
    is_record = read_jsonl(setup["tmp"] / "scores" / "metric-is12.jsonl")[0]
    assert set(is_record["results"]) == {"is12_mean", "is12_std"}


@pytest.mark.parametrize("args, message", [
    (["--metrics=is20", "--detector=DEFAULT"], "is20: unavailable: the Inception detector"),
    (["--metrics=pr10k3"], "pr10k3: unavailable: precision/recall needs VGG16 weights"),
    (["--gpus=2"], "--gpus: 2 processes are not supported"),
    (["--data=NOWHERE"], "--data:"),
    (["--metrics=fid20_full", "--real=DATA"], "--real/--fake: give either --network"),
])
def test_bad_input_is_refused_before_any_work(setup, args, message):
    args = [a.replace("NOWHERE", str(setup["tmp"] / "nowhere")).replace("DATA", str(setup["data"]))
            for a in args]
    if "--detector=DEFAULT" in args:
        args.remove("--detector=DEFAULT")
    else:
        args.append(f"--detector={setup['detector']}")
    before = sorted(p.name for p in setup["run"].iterdir())
    result = invoke(f"--network={setup['network']}", *args)
    assert result.exit_code == 2 and message in result.output
    assert sorted(p.name for p in setup["run"].iterdir()) == before


def test_root_script_reports_one_line_and_exit_2(setup):
    proc = subprocess.run([sys.executable, "calc_metrics.py", f"--network={setup['network']}",
                           "--metrics=fid9000_nonsense"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --metrics: unknown metric 'fid9000_nonsense'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_network_without_dataset_options_needs_data(setup):
    bare, _ = save_checkpoint(setup["tmp"] / "bare" / "net", networks={"G_ema": tiny_generator()})
    result = invoke("--network", bare, "--detector", setup["detector"], "--metrics=fid10_full")
    assert result.exit_code == 2
    assert "--data: could not look up dataset options" in result.output


def test_folder_mode_checks_counts_and_labels(setup):
    result = invoke("--real", setup["data"], "--fake", setup["data"], "--metrics=fid5_full,fid50_full",
                    "--detector", setup["detector"], "--outdir", setup["tmp"] / "scores")
    assert result.exit_code == 2 and "--fake: 50 images are needed" in result.output
    assert not (setup["tmp"] / "scores").exists()  # refused before the first metric ran
    result = invoke("--real", setup["data"], "--fake", setup["data"], "--metrics=fid5_full_perclass",
                    "--detector", setup["detector"])
    assert result.exit_code == 2 and "needs a conditional --network" in result.output
    result = invoke("--fake", setup["data"], "--metrics=fid5_full", "--detector", setup["detector"])
    assert result.exit_code == 2 and "--real: give the folder of real images" in result.output


def test_dry_run_checks_and_computes_nothing(setup):
    result = invoke("--network", setup["network"], "--metrics=fid10_full", "--detector", setup["detector"],
                    "-n")
    assert result.exit_code == 0 and "Dry run" in result.output
    assert not list(setup["run"].glob("metric-*.jsonl"))


def test_network_mode_with_outdir_writes_the_jsonl_there(setup):
    scores = setup["tmp"] / "scores"
    result = invoke("--network", setup["network"], "--metrics=fid10_full", "--detector", setup["detector"],
                    "--outdir", scores, "--verbose=0")
    assert result.exit_code == 0, result.output
    records = read_jsonl(scores / "metric-fid10_full.jsonl")
    assert len(records) == 1 and list(records[0]) == REFERENCE_KEYS
    assert records[0]["metric"] == "fid10_full" and list(records[0]["results"]) == ["fid10_full"]
    assert records[0]["snapshot_pkl"] == "network-snapshot-000004.safetensors"
    assert not list(setup["run"].glob("metric-*.jsonl"))  # not beside the network


def test_mirror_applies_to_legacy_metrics_only(setup):
    # The reference's --mirror sets the dataset's xflip; *_full metrics override it with xflip=False.
    def results(*extra):
        result = invoke("--network", setup["network"], "--metrics=fid10_full,fid30", "--detector",
                        setup["detector"], "--verbose=0", "--outdir", setup["tmp"] / "scores", *extra)
        assert result.exit_code == 0, result.output
        return [read_jsonl(setup["tmp"] / "scores" / f"metric-{m}.jsonl")[-1]["results"][m]
                for m in ("fid10_full", "fid30")]

    plain, mirrored = results(), results("--mirror=1")
    assert mirrored[0] == plain[0]  # fid10_full: the 12 unmirrored reals either way
    assert mirrored[1] != pytest.approx(plain[1], rel=1e-6)  # fid30: 24 reals with the mirrored copies


@pytest.mark.parametrize("metrics", ["fid12_full", "is12,fid12_full"])
def test_missing_real_folder_is_refused_before_any_metric(setup, metrics):
    missing = setup["tmp"] / "no_reals"
    for dry_run in ([], ["-n"]):
        result = invoke("--real", missing, "--fake", setup["data"], f"--metrics={metrics}", "--detector",
                        setup["detector"], "--outdir", setup["tmp"] / "scores", *dry_run)
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [f"error: --real: no such folder or zip file '{missing}'"]
        assert "Metrics " not in result.output  # refused before the plan, so before any metric
        assert not (setup["tmp"] / "scores").exists()


def test_corrupt_image_is_one_line_naming_its_path(setup):
    reals = shutil.copytree(setup["data"], setup["tmp"] / "reals")
    broken = reals / "00000" / "img00000005.png"
    broken.write_bytes(b"this is not a PNG")
    proc = subprocess.run([sys.executable, "calc_metrics.py", f"--real={reals}", f"--fake={setup['data']}",
                           "--metrics=fid12_full", f"--detector={setup['detector']}", "--verbose=0"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {broken.as_posix()}: cannot read image (not an image "
                                                f"file, or a damaged one)"]


def test_recorded_dataset_that_is_not_there_is_named_as_recorded(setup, monkeypatch):
    """Run from another folder, the network's relative dataset path does not resolve: the message says the
    path came from the network file, not from a --data the user never gave."""
    recorded = {"random_seed": 0, "data": {"path": "datasets/x.zip", "xflip": False, "max_size": None}}
    weights, _ = save_checkpoint(setup["tmp"] / "moved" / "net", networks={"G_ema": tiny_generator()},
                                 training_options=recorded)
    monkeypatch.chdir(setup["tmp"])
    result = invoke("--network", weights, "--metrics", "fid10_full", "--detector", setup["detector"], "-n")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "error: --data" not in result.stderr
    assert f"recorded in {weights}" in result.stderr and "datasets/x.zip" in result.stderr
    assert "pass --data" in result.stderr


def test_network_mode_in_a_fresh_process(setup):
    """The network classes are registered by the command itself (not by a test's earlier imports)."""
    proc = subprocess.run([sys.executable, "calc_metrics.py", f"--network={setup['network']}", "--metrics=fid10_full",
                           f"--detector={setup['detector']}", "--device=cpu", "--dry-run"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "Dry run" in proc.stdout


def test_folder_mode_decodes_every_fake_before_the_reals(setup, monkeypatch):
    """A damaged last --fake image fails the job before any feature pass (no real statistics cached)."""
    from thygan.metrics import sources

    fake = shutil.copytree(setup["data"], setup["tmp"] / "fake")
    (fake / "00000" / "img00000011.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    passes = []
    monkeypatch.setattr(sources.FolderImages, "batches", lambda self, *a: passes.append(self.label) or iter(()))
    result = invoke("--real", setup["data"], "--fake", fake, "--metrics=fid12_full", "--detector",
                    setup["detector"], "--verbose=0")
    assert result.exit_code == 2 and "img00000011.png" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and passes == []
    assert not (setup["tmp"] / "cache").exists() or not any((setup["tmp"] / "cache").rglob("*.npz"))
