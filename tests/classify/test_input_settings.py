"""dlc-eval takes the input settings (crop size, evaluation crops) from the checkpoint unless the command
line overrides them, says so in one line, and refuses crops larger than the images before any folder."""

import json

import torch
from click.testing import CliRunner

from thygan.classify.models import build_model, save_classifier
from thygan.cli.dlc_eval import dlc_eval_command


def _model(tmp_path, **extra):
    torch.manual_seed(0)
    model = build_model("resnet18", 3, "none", width=8)
    return save_classifier(tmp_path / "vl_0.5000", model, model_type="resnet18", class_names=["a", "b", "c"],
                           extra=extra)


def _eval(tiles, split_file, out, model, *extra):
    args = ["--src_dir", tiles, "--labels", tiles / "dataset.json", "--out_dir", out, "--split_file", split_file,
            "--run_id", "ev", "--mdl_loc", model, "--workers", 0, "--device", "cpu", "--bootstrap", 0, *extra]
    return CliRunner().invoke(dlc_eval_command, [str(a) for a in args])


def test_crop_size_and_eval_crop_come_from_the_checkpoint(sample_tiles, split_file, tmp_path):
    model = _model(tmp_path, crop_size=16, eval_crop="tiles")
    result = _eval(sample_tiles, split_file, tmp_path / "out", model)
    assert result.exit_code == 0, result.output
    line = "input settings: crop_size 16 (as the model was trained), eval_crop tiles (as the model was trained)"
    assert line in result.output and line in (tmp_path / "out" / "000-ev" / "eval_log.txt").read_text()
    saved = json.loads((tmp_path / "out" / "000-ev" / "options.json").read_text())
    assert (saved["crop_size"], saved["eval_crop"]) == (16, "tiles")
    override = _eval(sample_tiles, split_file, tmp_path / "out", model, "--crop_size", 32, "--eval_crop", "center")
    assert override.exit_code == 0, override.output
    assert "crop_size 32 (--crop_size; the model was trained with 16)" in override.output
    assert json.loads((tmp_path / "out" / "001-ev" / "options.json").read_text())["crop_size"] == 32


def test_crop_larger_than_the_images_is_refused_before_a_run_folder(sample_tiles, split_file, tmp_path):
    """A model file that records no settings (e.g. the study's .pth) gets the default 512 px, too big for
    the 32 px tiles: one line, exit 2, and no run folder left behind."""
    model = _model(tmp_path)
    result = _eval(sample_tiles, split_file, tmp_path / "out", model)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "--crop_size: 512 px crops do not fit" in result.stderr and "at most 32 px" in result.stderr
    assert not (tmp_path / "out").exists()
