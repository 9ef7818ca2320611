"""The pipeline runs its steps as thygan commands, reuses finished ones, reruns changed ones, reports."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from thygan.cli.pipeline import pipeline_command
from thygan.pipeline.config import load_config
from thygan.pipeline.runner import pick_network, run_pipeline
from thygan.pipeline.steps import PipelineContext
from thygan.pipeline.workflow import STEP_BUILDERS, built_steps

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config_name", ["demo.yaml", "thyroid.yaml"])
def test_every_step_is_a_real_command_with_real_flags(config_name, tmp_path):
    from tests.pipeline.test_examples import assert_real_command

    config = load_config(REPO / "data" / "pipelines" / config_name)
    config.outdir = str(tmp_path / "out")
    ctx = PipelineContext(config=config, outdir=Path(config.outdir), dry_run=True)
    steps = [step for builder in STEP_BUILDERS for step in built_steps(builder, ctx)]
    assert len(steps) >= 8
    for step in steps:
        assert_real_command(step.args)
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def study_layout(root: Path, patients_per_class: int = 10) -> dict:
    """The thyroid pipeline's inputs in miniature: an image folder, study labels with patients and
    diagnoses, an external set; returns the pipeline file's content pointing at them."""
    import yaml

    (root / "images").mkdir(parents=True)
    (root / "external").mkdir()
    meta = [[f"{p}{letter}.jpeg", p % 2, str(p), ["FA", "PTC"][p % 2]]
            for p in range(1, 2 * patients_per_class + 1) for letter in "ab"]
    (root / "bi_dataset.json").write_text(json.dumps({"labels": [row[:2] for row in meta], "meta": meta}))
    (root / "ext_dataset.json").write_text(json.dumps({"meta": meta[:4]}))
    (root / "ext_test_fnames.json").write_text(json.dumps({"test": [row[0] for row in meta[:4]]}))
    config = yaml.safe_load((REPO / "data/pipelines/thyroid.yaml").read_text())
    config["dataset"] |= {"images": str(root / "images"), "labels": str(root / "bi_dataset.json")}
    config["classifier"] |= {"recipes": ["none", str(REPO / "data/gan_params/cv_bi100.json")],
                             "ext_labels": str(root / "ext_dataset.json"), "ext_src_dir": str(root / "external"),
                             "ext_split": str(root / "ext_test_fnames.json")}
    config["outdir"] = str(root / "o")
    return config


def dry_run(tmp_path: Path, config: dict):
    import yaml

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return CliRunner().invoke(pipeline_command, ["--config", str(path), "-n"])


def test_dry_run_prints_commands(tmp_path):
    result = dry_run(tmp_path, study_layout(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.count("\n$ thygan ") == 8 and "--cfg=paper512" in result.output
    assert "dry run" in result.output and not (tmp_path / "o").exists()
    assert "warning" not in result.output  # 512 px crops for the GAN and the classifier alike


@pytest.mark.parametrize("change, message", [
    (lambda c, root: c["dataset"].update(images=str(root / "nope")), "pipeline: dataset.images: "),
    (lambda c, root: c["classifier"].update(ext_split=str(root / "nope.json")), "pipeline: classifier.ext_split: "),
    (lambda c, root: c["classifier"].update(recipes=["none", "gp/none_such.json"]), "classifier.recipes: gp/"),
    (lambda c, root: c["gan"].update(network=str(root / "net.pkl")), "pipeline: gan.network: "),
    (lambda c, root: c["classifier"].update(folds="0-5"), "classifier.folds: fold 5 does not exist"),
    (lambda c, root: c["classifier"].update(crop_size=1024),
     "classifier.crop_size: 1024 px crops do not fit the GAN's 512 px images (dataset.crop_size)"),
])
def test_dry_run_checks_inputs_folds_and_crops(tmp_path, change, message):
    config = study_layout(tmp_path)
    change(config, tmp_path)
    result = dry_run(tmp_path, config)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and "$ thygan" not in result.output  # before any step
    assert not (tmp_path / "o").exists()


def test_dry_run_refuses_folds_the_cohort_cannot_fill(tmp_path):
    """4 patients per class: 5 outer folds are impossible, and with 4 the inner folds are."""
    config = study_layout(tmp_path, patients_per_class=4)
    outer = dry_run(tmp_path, config)
    assert outer.exit_code == 2 and "splits.folds: 5 outer folds" in outer.stderr, outer.output
    assert "'FA': 4 patients" in outer.stderr
    config["splits"]["folds"] = 4
    config["classifier"]["folds"] = "0-3"
    inner = dry_run(tmp_path, config)
    assert inner.exit_code == 2 and "splits.inner_folds: 4 inner folds of outer fold 0" in inner.stderr


def test_dry_run_warns_when_the_gan_sees_another_scale(tmp_path):
    """512 px crops shrunk to 32 px for the GAN, 32 px crops of the full images for the classifier."""
    config = study_layout(tmp_path)
    config["dataset"]["resolution"] = 32
    config["classifier"]["crop_size"] = 32
    result = dry_run(tmp_path, config)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "512 px regions shrunk to 32 px (16x" in warnings[0]


def test_network_resolution_is_read_from_the_network_file(tmp_path):
    import torch

    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=2, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=64, channel_max=16))
    save_checkpoint(tmp_path / "net", networks={"G_ema": G})
    config = study_layout(tmp_path)
    config["gan"]["network"] = str(tmp_path / "net.safetensors")
    config["classifier"]["crop_size"] = 32
    result = dry_run(tmp_path, config)
    assert result.exit_code == 2 and "do not fit the GAN's 16 px images (gan.network " in result.stderr


def test_unknown_step_in_only_fails_in_one_line(tmp_path):
    config = load_config(REPO / "data/pipelines/demo.yaml")
    config.outdir = str(tmp_path)
    with pytest.raises(Exception, match="--only: unknown step 'gan'"):
        run_pipeline(config, only=["gan"], dry_run=True)


def write_metric(run_dir: Path, values: dict[int, float]) -> None:
    lines = []
    for kimg, value in values.items():
        stem = run_dir / f"network-snapshot-{kimg:06d}"
        stem.with_suffix(".safetensors").write_bytes(b"x")
        stem.with_suffix(".json").write_text("{}")
        lines.append(json.dumps({"results": {"fid100_full": value}, "metric": "fid100_full",
                                 "snapshot_pkl": stem.name + ".safetensors"}))
    (run_dir / "metric-fid100_full.jsonl").write_text("\n".join(lines) + "\n")


def test_pick_network_takes_the_lowest_metric_else_the_newest(tmp_path):
    write_metric(tmp_path, {0: 300.0, 1: 120.5, 2: 180.0})
    network, why = pick_network(tmp_path, "fid100_full")
    assert network.name == "network-snapshot-000001.safetensors" and "120.50" in why
    network, why = pick_network(tmp_path, "none")
    assert network.name == "network-snapshot-000002.safetensors" and why == "newest snapshot"


def small_pipeline(tmp_path: Path, epochs: int = 1) -> Path:
    """Tiles, IHC tiles, splits, one classifier fold and a colour-histogram domain gap: seconds each."""
    path = tmp_path / "small.yaml"
    path.write_text(f"""
outdir: {tmp_path / 'out'}
device: cpu
dataset: {{sample: {{tile: 32, magnification: 5}}}}
splits: {{folds: 3, inner_folds: 2, stratify: label}}
gan: null
classifier:
  recipes: [none]
  folds: "0"
  model_type: resnet18
  epochs: {epochs}
  batch_size: 16
  crop_size: 32
  workers: 0
  extra: [--width=8, --bootstrap=20]
domain_gap:
  extractor: colour-histogram
  sets: ["H&E={{tiles}}", "IHC={{ihc}}:max=60"]
  extra: [--no-umap]
""")
    return path


def report_links(report: Path) -> list[Path]:
    return [report.parent / link for link in re.findall(r"\]\(([^)]+)\)", report.read_text())]


@pytest.mark.slow
def test_small_pipeline_runs_reuses_and_reruns_what_changed(tmp_path):
    config = small_pipeline(tmp_path)
    first = CliRunner().invoke(pipeline_command, ["--config", str(config)])
    assert first.exit_code == 0, first.output
    out = tmp_path / "out"
    assert {p.stem for p in (out / ".pipeline").glob("*.json")} == {"tiles", "external-tiles", "splits",
                                                                    "classifier", "domain-gap"}
    assert (out / "classifier" / "comparison.md").is_file() and (out / "domain_gap" / "gap.md").is_file()
    report = out / "REPORT.md"
    text = report.read_text()
    assert "## The classifier" in text and "## Domain gap" in text and "thygan dlc-cv" in text
    links = report_links(report)
    assert links and all(link.is_file() for link in links if link.suffix == ".png"), links

    table = first.output[first.output.index("Step times"):].splitlines()
    steps = ["tiles", "external-tiles", "splits", "classifier", "domain-gap", "report", "total"]
    assert [line.split()[0] for line in table[2:]] == steps  # every step's wall and CPU time, at the end
    assert "(earlier run" not in first.output

    again = CliRunner().invoke(pipeline_command, ["--config", str(config)])
    assert again.exit_code == 0 and again.output.count("reusing it") == 5, again.output
    assert again.output.count("(earlier run, reused)") == 5

    config = small_pipeline(tmp_path, epochs=2)  # only the classifier's command changes
    changed = CliRunner().invoke(pipeline_command, ["--config", str(config), "--only", "classifier,report"])
    assert changed.exit_code == 0, changed.output
    assert "options changed" in changed.output and changed.output.count("reusing it") == 0
    record = json.loads((out / ".pipeline" / "classifier.json").read_text())
    assert "--epochs=2" in record["command"]


def test_failed_step_stops_with_one_line_and_no_record(tmp_path):
    path = tmp_path / "bad.yaml"
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.json").write_text("{}")  # exists, so the checks pass; split-dataset then refuses it
    path.write_text(f"outdir: {tmp_path / 'out'}\ndataset: {{images: {tmp_path / 'empty'}, "
                    f"labels: {tmp_path / 'x.json'}, crop_size: 32}}\ngan: null\nclassifier: null\n")
    result = CliRunner().invoke(pipeline_command, ["--config", str(path)])
    assert result.exit_code == 2
    assert "pipeline step 'tiles' failed" in result.output
    assert not (tmp_path / "out" / ".pipeline" / "tiles.json").exists()


def test_demo_dry_run_applies_its_overrides(tmp_path):
    from thygan.cli.demo import demo_command

    result = CliRunner().invoke(demo_command, ["--outdir", str(tmp_path / "d"), "--tile", "64", "--kimg", "2", "-n"])
    assert result.exit_code == 0, result.output
    assert "--cfg=cpu64" in result.output and "--kimg=2" in result.output and "--tile=64" in result.output
    assert "--crop_size=64" in result.output and result.output.count("\n$ thygan ") == 18  # no separate FID step
    assert not (tmp_path / "d").exists()


def test_interrupted_gan_training_is_continued(tmp_path):
    from thygan.pipeline.runner import _train_args_with_resume
    from thygan.pipeline.steps import gan_train_step

    config = load_config(REPO / "data/pipelines/demo.yaml")
    ctx = PipelineContext(config=config, outdir=tmp_path)
    step = gan_train_step(ctx)
    assert _train_args_with_resume(step, ctx) == step.args          # nothing to continue yet
    run_dir = tmp_path / "gan" / "00000-gan_data-cond-cpu32-kimg4"
    run_dir.mkdir(parents=True)
    assert _train_args_with_resume(step, ctx) == step.args          # a run folder without a snapshot
    write_metric(run_dir, {2: 400.0})
    assert _train_args_with_resume(step, ctx) == [*step.args, f"--resume={run_dir}"]


def test_finished_gan_run_is_extended_only_when_just_kimg_changed(tmp_path):
    from thygan.pipeline.runner import StepRecord, _train_args_with_resume, _write_record
    from thygan.pipeline.steps import gan_train_step

    config = load_config(REPO / "data/pipelines/demo.yaml")
    ctx = PipelineContext(config=config, outdir=tmp_path)
    run_dir = tmp_path / "gan" / "00000-gan_data-cond-cpu32-kimg4"
    run_dir.mkdir(parents=True)
    write_metric(run_dir, {4: 390.0})
    _write_record(tmp_path, StepRecord("gan-train", gan_train_step(ctx).args, 1.0, {}))
    config.gan.kimg = 10
    longer = gan_train_step(ctx)
    assert _train_args_with_resume(longer, ctx)[-1] == f"--resume={run_dir}"
    config.gan.cfg = "cpu64"
    other = gan_train_step(ctx)
    assert _train_args_with_resume(other, ctx) == other.args


@pytest.mark.slow
def test_gan_to_classifier_pipeline(tmp_path):
    """The GAN path end to end: a 1-kimg cpu32 run, its grid, a recipe of its images in the classifier, the report."""
    path = tmp_path / "gan.yaml"
    path.write_text(f"""
outdir: {tmp_path / 'out'}
device: cpu
dataset: {{sample: {{tile: 32, magnification: 5, ihc_external: false}}}}
splits: {{folds: 3, inner_folds: 2, stratify: label}}
gan: {{cfg: cpu32, kimg: 1, metrics: none, fid_metric: null, snap: 1, mirror: false, grid_seeds: 0-3,
      extra: [--workers=0]}}
classifier:
  recipes: [{{name: half, classes: [0, 1, 2], seeds: ["50%", "50%", "50%"], class_map: [0, 1, 2]}}]
  folds: "0"
  model_type: resnet18
  epochs: 1
  batch_size: 16
  crop_size: 32
  workers: 0
  extra: [--width=8, --bootstrap=20]
""")
    result = CliRunner().invoke(pipeline_command, ["--config", str(path)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    record = json.loads((out / ".pipeline" / "gan-train.json").read_text())
    network = Path(record["produced"]["network"])
    assert network.is_file() and record["produced"]["picked_by"] == "newest snapshot"
    recipe = json.loads((out / "recipes" / "half.json").read_text())
    assert recipe["network"] == str(network)  # inline recipes use the trained generator
    log = (out / "classifier" / "half" / "cv0" / "train_log.txt").read_text()
    assert "synthetic training images per label" in log
    report = (out / "REPORT.md").read_text()
    for figure in ("report/reals_vs_fakes.png", "report/gan_training_curves.png", "generated/grid.png",
                   "classifier/half/cv0/test/Conf_Matrix.png"):
        assert f"]({figure})" in report and (out / figure).is_file(), figure
