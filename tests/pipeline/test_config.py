"""Pipeline files: the shipped ones load; mistakes fail in one line naming the key."""

import json
from pathlib import Path

import pytest

from thygan.errors import UserError
from thygan.pipeline.config import PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_pipelines_load():
    demo = load_config(REPO / "data" / "pipelines" / "demo.yaml")
    assert demo.dataset.sample.tile == 32 and demo.gan.cfg == "cpu32" and demo.gan.tick == 1.0
    assert demo.classifier.recipes[0] == "none" and demo.classifier.recipes[1]["name"] == "gan100"
    thyroid = load_config(REPO / "data" / "pipelines" / "thyroid.yaml")
    assert thyroid.gan.cfg == "paper512" and thyroid.gan.kimg == 25000 and thyroid.gan.gpus == 4
    assert thyroid.dataset.crop_size == 512 and thyroid.splits.stratify == "diagnosis"
    assert all(Path(REPO / r).is_file() for r in thyroid.classifier.recipes if r != "none")


def test_json_and_defaults(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"dataset": {"images": "imgs", "labels": "l.json"}, "gan": {"kimg": 10}}))
    config = load_config(path)
    assert isinstance(config, PipelineConfig)
    assert config.gan.kimg == 10 and config.gan.cfg == "paper512"      # the rest keeps its defaults
    assert config.classifier.recipes == ["none"] and config.domain_gap is None


@pytest.mark.parametrize("text, message", [
    ("dataset: {images: x}\ngan: {kimgs: 3}\n", "p.yaml.gan: unknown key 'kimgs'"),
    ("dataset: {images: x}\ngan: {kimg: many}\n", "p.yaml.gan.kimg: expected float, got 'many'"),
    ("dataset: {images: x}\ngan: {tick: true}\n", "p.yaml.gan.tick: expected"),
    ("dataset: {images: x}\ngan: [1, 2]\n", "p.yaml.gan: expected a mapping"),
    ("gan: {kimg: 3}\n", "dataset needs 'images'"),
    ("dataset: {images: x, sample: {}}\n", "both 'images' and 'sample'"),
    ("dataset: {images: x}\nsplits: {stratify: age}\n", "splits.stratify must be"),
    ("dataset: {images: x}\ndomain_gap: {sets: [a=b]}\n", "two or more sets"),
    ("dataset: {images: x}\nclassifier: {recipes: [{classes: [0]}]}\n", "needs a 'name'"),
    ("dataset: {images: x\n", "is not valid YAML"),
])
def test_mistakes_fail_with_the_key_path(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=None) as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_fractional_kimg_and_cpu_sized_metric_defaults(tmp_path):
    """gan.kimg takes fractions as train.py does; on a CPU the unset metrics are CPU-sized (train.py's
    fid2k_full, 1,000 images per class for the per-class FID) instead of 20,000 generated images."""
    from thygan.pipeline.config import METRIC_DEFAULTS
    from thygan.pipeline.steps import PipelineContext, gan_fid_step, gan_train_step

    path = tmp_path / "p.yaml"
    path.write_text("device: cpu\ndataset: {images: x}\ngan: {kimg: 0.4}\n")
    config = load_config(path)
    assert config.gan.kimg == 0.4
    assert (config.gan.metrics, config.gan.fid_metric) == METRIC_DEFAULTS["cpu"] == ("fid2k_full",
                                                                                    "fid1k_full_perclass")
    ctx = PipelineContext(config=config, outdir=tmp_path / "out", dry_run=True)
    assert "--kimg=0.4" in gan_train_step(ctx).args and "--metrics=fid2k_full" in gan_train_step(ctx).args
    assert "--metrics=fid1k_full_perclass" in gan_fid_step(ctx).args
    path.write_text("device: cpu\ndataset: {images: x}\ngan: {metrics: fid100_full, fid_metric: null}\n")
    explicit = load_config(path)  # what the file says wins
    assert (explicit.gan.metrics, explicit.gan.fid_metric) == ("fid100_full", None)
