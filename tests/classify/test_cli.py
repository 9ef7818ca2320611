"""dlc-train, dlc-eval and dlc-cv end to end on the bundled sample at 32 px; resume; bad input."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from tests.classify.conftest import train_args
from tests.conftest import single_threaded
from thygan.classify.options import TrainOptions
from thygan.classify.run import launch_training
from thygan.classify.run_folder import LEGACY_STATE_FILE, state_paths
from thygan.cli.dlc_cv import dlc_cv_command
from thygan.cli.dlc_eval import dlc_eval_command
from thygan.cli.dlc_train import dlc_train_command
from thygan.io.checkpoint import load_checkpoint

RUN_FILES = {"options.json", "train_log.txt", "training-state.safetensors", "training-state.json",
             "training_results.json", "Training_Curves.png"}
EVAL_FILES = {"options.json", "eval_log.txt", "test_preds.csv", "patient_preds.csv", "Conf_Matrix.png",
              "metrics.json"}


def invoke(command, args):
    return CliRunner().invoke(command, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(sample_tiles, split_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    with single_threaded():
        result = invoke(dlc_train_command, train_args(sample_tiles, split_file, out))
    assert result.exit_code == 0, result.output
    return out / "000-t"


def test_train_writes_the_study_files(trained):
    names = {p.name for p in trained.iterdir()}
    assert RUN_FILES <= names
    best = [n for n in names if n.startswith("vl_") and n.endswith(".safetensors")]
    results = json.loads((trained / "training_results.json").read_text())
    assert best == [results["best_model"]] and results["epochs_run"] == 2
    assert set(results) >= {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert best[0] == f"vl_{min(results['val_loss']):.4f}.safetensors"
    log = (trained / "train_log.txt").read_text().splitlines()
    assert log[0].startswith("Namespace(augment='study', batch_size=16,")
    epochs = [line for line in log if line.startswith("[Epoch")]
    assert len(epochs) == 2 and epochs[1].startswith("[Epoch 2/2] [Batches: ")
    assert "[Val Loss: " in epochs[0] and epochs[0].endswith("]")


def test_eval_writes_the_study_files_and_is_deterministic(trained, sample_tiles, split_file, tmp_path):
    model = next(trained.glob("vl_*.safetensors"))
    args = ["--src_dir", sample_tiles, "--labels", sample_tiles / "dataset.json", "--out_dir", tmp_path,
            "--split_file", split_file, "--run_id", "ev", "--mdl_loc", model, "--crop_size", 32, "--workers", 0,
            "--device", "cpu", "--bootstrap", 200]
    for _ in range(2):
        result = invoke(dlc_eval_command, args)
        assert result.exit_code == 0, result.output
    first, second = tmp_path / "000-ev", tmp_path / "001-ev"
    assert EVAL_FILES <= {p.name for p in first.iterdir()}
    for name in ("test_preds.csv", "patient_preds.csv", "metrics.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    header = (first / "test_preds.csv").read_text().splitlines()[0]
    assert header.startswith("patient,diagnosis,class,pred_class,pred_prob,")
    test_images = len(json.loads(split_file.read_text())["test"])
    assert len((first / "test_preds.csv").read_text().splitlines()) == test_images + 1
    metrics = json.loads((first / "metrics.json").read_text())["patient_level"]
    log = (first / "eval_log.txt").read_text()
    assert f"Patient-level accuracy: {100 * metrics['accuracy']:.2f}% ({metrics['correct']}/{metrics['total']})" \
        in log and "Patient-level f1 score: " in log
    assert sum(sum(row) for row in metrics["confusion_matrix"]) == metrics["total"]


RESUME_FLAGS = dict(run_id="r", crop_size=32, model_type="resnet18", width=8, epochs=2, batch_size=16, workers=0,
                    device="cpu")


def assert_same_state(a_dir, b_dir):
    """Two run folders' training states hold bit-identical tensors (model, Adam) and equal JSON."""
    a, b = load_checkpoint(state_paths(a_dir)[0]), load_checkpoint(state_paths(b_dir)[0])
    assert a.meta["extra"] == b.meta["extra"]  # epoch, history, best, scheduler, optimizer layout
    assert set(a.extra_tensors) == set(b.extra_tensors) == {"model", "optimizer_opt"}
    for group, tensors in a.extra_tensors.items():
        assert tensors.keys() == b.extra_tensors[group].keys() and tensors
        for key, value in tensors.items():
            assert torch.equal(value, b.extra_tensors[group][key]), f"{group}.{key}"


@pytest.fixture(scope="module")
def straight_run(sample_tiles, split_file, tmp_path_factory):
    flags = dict(src_dir=str(sample_tiles), labels=str(sample_tiles / "dataset.json"), split_file=str(split_file),
                 **RESUME_FLAGS)
    with single_threaded():  # one thread: the same reduction order in every run, so results are bit-exact
        run_dir, _ = launch_training(TrainOptions(out_dir=str(tmp_path_factory.mktemp("straight")), **flags),
                                     echo=lambda line: None)
    return flags, run_dir


def test_interrupted_training_resumes_exactly(straight_run, tmp_path):
    flags, straight = straight_run
    opts = TrainOptions(out_dir=str(tmp_path / "b"), **flags)
    run_dir, partial = launch_training(opts, echo=lambda line: None, stop_requested=lambda: True)
    assert partial == {"finished": False, "epoch": 1} and not (run_dir / "training_results.json").exists()
    assert json.loads(state_paths(run_dir)[1].read_text())["extra"]["progress"]["epoch"] == 1
    resumed_dir, results = launch_training(opts, echo=lambda line: None)
    assert resumed_dir == run_dir and results["epochs_run"] == 2
    assert "resuming after epoch 1" in (run_dir / "train_log.txt").read_text()
    assert_same_state(straight, run_dir)
    assert results["best_val_loss"] == json.loads((straight / "training_results.json").read_text())["best_val_loss"]
    # a finished run is not resumed: the same command starts 001-r
    again, _ = launch_training(TrainOptions(out_dir=str(tmp_path / "b"), **dict(flags, epochs=1)),
                               echo=lambda line: None)
    assert again.name == "001-r"


def test_a_run_folder_with_the_old_torch_state_resumes_exactly(straight_run, tmp_path):
    flags, straight = straight_run
    opts = TrainOptions(out_dir=str(tmp_path), **flags)
    run_dir, _ = launch_training(opts, echo=lambda line: None, stop_requested=lambda: True)
    # rewrite epoch 1's state as the torch file run folders held before, the same dict the old code saved
    new = load_checkpoint(state_paths(run_dir)[0])
    progress, layout = new.meta["extra"]["progress"], new.meta["extra"]["optimizers"]["optimizer_opt"]
    opt_state: dict[int, dict] = {}
    for key, value in new.extra_tensors["optimizer_opt"].items():
        idx, slot = key.split(".", 1)
        opt_state.setdefault(int(idx), {})[slot] = value
    torch.save({"model": new.extra_tensors["model"], "scheduler": progress["scheduler"],
                "optimizer": {"state": opt_state, "param_groups": layout["param_groups"]},
                "epoch": progress["epoch"], "history": progress["history"], "best": progress["best"]},
               run_dir / LEGACY_STATE_FILE)
    for path in state_paths(run_dir):
        path.unlink()
    resumed_dir, results = launch_training(opts, echo=lambda line: None)
    assert resumed_dir == run_dir and results["epochs_run"] == 2
    log = (run_dir / "train_log.txt").read_text()
    assert log.count(f"old-style {LEGACY_STATE_FILE}") == 1 and "resuming after epoch 1" in log
    assert not (run_dir / LEGACY_STATE_FILE).exists()  # replaced by the safetensors state
    assert_same_state(straight, run_dir)


@pytest.mark.parametrize("change,message", [
    ({"val": None}, "has no 'val' list"),
    ({"train": ["no_such_image.png"]}, "neither file names nor patients"),
])
def test_bad_split_fails_with_one_line_and_no_run_folder(change, message, sample_tiles, split_file, tmp_path):
    split = json.loads(split_file.read_text())
    for key, value in change.items():
        split.pop(key) if value is None else split.update({key: value})
    bad = tmp_path / "bad_split.json"
    bad.write_text(json.dumps(split))
    out = tmp_path / "out"
    result = invoke(dlc_train_command, train_args(sample_tiles, bad, out))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()[-1]) > 0 and "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_recipe_label_outside_the_labels_is_refused(sample_tiles, split_file, tiny_gan, tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"classes": [0], "seeds": ["0-4"], "network": [str(tiny_gan)], "class_map": [7]}))
    result = invoke(dlc_train_command, train_args(sample_tiles, split_file, tmp_path / "out", "--gan_params", recipe))
    assert result.exit_code == 2 and "class_map label 7 is not a label of" in result.output



def test_a_segmentation_recipe_is_refused(sample_tiles, split_file, tmp_path):
    recipe = tmp_path / "seg.json"
    recipe.write_text(json.dumps({"kind": "translated", "network": "he2ihc.safetensors", "data": "tiles"}))
    result = invoke(dlc_train_command, train_args(sample_tiles, split_file, tmp_path / "out", "--gan_params", recipe))
    assert result.exit_code == 2 and "translated tiles by he2ihc.safetensors is a segmentation source" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_cv_compares_recipes_over_folds(sample_tiles, sample_splits, tiny_gan, tmp_path):
    recipe = tmp_path / "tiny100.json"
    recipe.write_text(json.dumps({"classes": [0, 1, 2], "seeds": ["100%", "100%", "100%"],
                                  "network": [str(tiny_gan)], "class_map": [0, 1, 2]}))
    out = tmp_path / "cv"
    args = ["--src_dir", sample_tiles, "--labels", sample_tiles / "dataset.json", "--split_dir", sample_splits,
            "--out_dir", out, "--folds", "0-1", "--recipes", f"none,{recipe}", "--crop_size", 32,
            "--model_type", "resnet18", "--width", 8, "--epochs", 1, "--batch_size", 16, "--workers", 0,
            "--device", "cpu", "--bootstrap", 100, "--ext_labels", sample_tiles / "dataset.json",
            "--ext_src_dir", sample_tiles, "--ext_split", sample_splits / "cv_splits" / "cv2_split.json",
            "--ext_name", "fold2-as-external"]
    result = invoke(dlc_cv_command, args)
    assert result.exit_code == 0, result.output
    for recipe_dir in ("none", "tiny100"):
        for fold in (0, 1):
            fold_dir = out / recipe_dir / f"cv{fold}"
            assert EVAL_FILES <= {p.name for p in (fold_dir / "test").iterdir()}
            assert (fold_dir / "external" / "metrics.json").is_file()
    assert "synthetic training images per label" in (out / "tiny100" / "cv0" / "train_log.txt").read_text()
    table, paired = (out / "comparison.md").read_text().split("Paired against 'none'")
    # a row per recipe and set, at patient and at image level
    assert table.count("| none |") == 4 and table.count("| tiny100 |") == 4 and "fold2-as-external" in table
    assert table.count("| cv test (images) |") == 2
    # tiny100 against none per set, over the 2 folds
    assert paired.count("| tiny100 |") == 4 and "n 2 |" in paired and "| none |" not in paired
    assert (out / "comparison.png").stat().st_size > 0
    rows = (out / "comparison_folds.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 2 * 2
    images_row = next(r for r in rows if r.startswith("none,cv test (images),0,"))
    predictions = (out / "none" / "cv0" / "test" / "test_preds.csv").read_text().splitlines()
    assert images_row.split(",")[4] == str(len(predictions) - 1)  # total = images evaluated
    # a second run reuses every finished fold
    stamp = (out / "none" / "cv0" / "test" / "metrics.json").stat().st_mtime_ns
    result = invoke(dlc_cv_command, args)
    assert result.exit_code == 0 and "trained already" in result.output
    assert (out / "none" / "cv0" / "test" / "metrics.json").stat().st_mtime_ns == stamp
    shutil.rmtree(out / "gan_cache")


def test_split_files_of_each_fold(sample_splits, tmp_path):
    from thygan.classify.cv import find_split_files
    from thygan.errors import UserError

    files = find_split_files(sample_splits, None, inner=2)
    assert sorted(files) == [0, 1, 2, 3, 4] and files[3].name == "cv_split_3_2.json"
    assert find_split_files(sample_splits, [1], inner=0)[1].name == "cv_split_1_0.json"
    (tmp_path / "cv4_split.json").write_text("{}")
    assert find_split_files(tmp_path, None) == {4: tmp_path / "cv4_split.json"}
    with pytest.raises(UserError, match="--folds: fold 7 has no split file"):
        find_split_files(sample_splits, [7])
    with pytest.raises(UserError, match="no cv_split_<k>_1.json"):
        find_split_files(tmp_path, None, inner=1)


def test_unlabelled_tiles_are_refused_with_one_line(trained, sample_tiles, split_file, tmp_path):
    """Null labels (sample-tiles --ihc) cannot train or evaluate a classifier: one line naming the file."""
    content = json.loads((sample_tiles / "dataset.json").read_text())
    rows = content.get("meta") or [[name, label, None, None] for name, label in content["labels"]]
    ihc = tmp_path / "ihc.json"
    ihc.write_text(json.dumps({"labels": None, "meta": [[row[0], None, *row[2:4]] for row in rows]}))
    model = next(trained.glob("vl_*.safetensors"))
    train = invoke(dlc_train_command, train_args(sample_tiles, split_file, tmp_path / "out", "--labels", ihc))
    evaluate = invoke(dlc_eval_command, ["--src_dir", sample_tiles, "--labels", ihc, "--out_dir", tmp_path / "ev",
                                         "--split_file", split_file, "--run_id", "ev", "--mdl_loc", model,
                                         "--crop_size", 32, "--workers", 0, "--device", "cpu"])
    for result, out in ((train, tmp_path / "out"), (evaluate, tmp_path / "ev")):
        assert result.exit_code == 2 and f"{ihc}: its labels are null" in result.output, result.output
        assert "Traceback" not in result.output and not (out.exists() and any(out.iterdir()))
