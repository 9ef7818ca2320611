"""Two DDP processes (gloo on CPU): the run completes and its sharded validation sums up correctly."""

import pytest
import torch

from thygan.classify.data import real_items
from thygan.classify.models import load_classifier
from thygan.classify.options import TrainOptions
from thygan.classify.run import launch_training
from thygan.classify.train import validate
from thygan.data.labels import read_labels
from thygan.data.splits import load_split


@pytest.mark.slow
def test_two_process_training_validates_like_one_process(sample_tiles, split_file, tmp_path):
    opts = TrainOptions(src_dir=str(sample_tiles), labels=str(sample_tiles / "dataset.json"), out_dir=str(tmp_path),
                        split_file=str(split_file), run_id="ddp", crop_size=32, model_type="resnet18", width=8,
                        epochs=2, batch_size=16, workers=0, device="cpu", gpus=2)
    run_dir, results = launch_training(opts, echo=lambda line: None)
    assert results["epochs_run"] == 2 and (run_dir / results["best_model"]).is_file()
    assert_two_processes_validate_like_one(run_dir, results, opts)


def assert_two_processes_validate_like_one(run_dir, results: dict, opts: TrainOptions) -> None:
    """A 2-process run of 2 epochs: its batches were split, and the validation loss it summed over both
    processes' shards is what one process computes over every image with the kept model."""
    log = (run_dir / "train_log.txt").read_text()
    assert log.count("[Epoch 1/2] [Batches: 9]") == 1  # 140 images / 2 processes / 8 per process: 9 batches
    table = read_labels(opts.labels)
    val = real_items(opts.src_dir, table, load_split(opts.split_file, table)["val"], where="val")
    model = load_classifier(run_dir / results["best_model"])
    loss, _ = validate(model, val, opts, torch.device("cpu"))  # one process, every image
    assert loss == pytest.approx(results["best_val_loss"], rel=1e-5)
