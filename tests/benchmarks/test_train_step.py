"""benchmarks/train_step.py: config parsing, the amortized step arithmetic and the noise dataset."""

from types import SimpleNamespace

import numpy as np
import pytest

from thygan.data.dataset import ImageFolderDataset
from thygan.errors import UserError


def test_parse_configs(train_step):
    assert train_step.parse_configs("cpu32@32, paper512@512,") == [("cpu32", 32), ("paper512", 512)]
    assert train_step.parse_configs("") == []  # the command itself refuses a run with nothing to time


@pytest.mark.parametrize("text", ["cpu32@33", "nope@32", "cpu32", "cpu32@x"])
def test_parse_configs_rejects_bad_items(train_step, text):
    with pytest.raises(UserError, match="--configs"):
        train_step.parse_configs(text)


def test_summary_weights_regularization_by_its_interval(train_step):
    timer = train_step.Timer(SimpleNamespace(type="cpu"))
    timer.times = {"data": [0.5], "Gmain": [1.0, 3.0, 1.0], "Greg": [4.0], "Dmain": [2.0], "Dreg": [16.0],
                   "ema": [0.5]}
    phases = [SimpleNamespace(name="Gmain", interval=1), SimpleNamespace(name="Greg", interval=4),
              SimpleNamespace(name="Dmain", interval=1), SimpleNamespace(name="Dreg", interval=16)]
    opts = SimpleNamespace(batch_size=8, batch_gpu=4)
    row = train_step.summarize(timer, phases, cfg="cpu32", resolution=32, device="cpu", opts=opts,
                               augment=None)
    # By hand: G = median(1, 3, 1) + 4/4 = 2; D = 2 + 16/16 = 3; step = 2 + 3 + data 0.5 + ema 0.5 = 6.
    assert row["G_step"] == pytest.approx(2.0) and row["D_step"] == pytest.approx(3.0)
    assert row["step"] == pytest.approx(6.0)
    assert row["sec_per_kimg"] == pytest.approx(6.0 / 8 * 1000)
    assert row["medians"]["augment"] is None
    table = train_step.format_table([row])
    assert "| cpu32@32 | cpu | 8 (4) |" in table and "| n/a |" in table and "| 750.0 |" in table


def test_timer_skips_warm_up_and_returns_results(train_step):
    timer = train_step.Timer(SimpleNamespace(type="cpu"))
    assert timer.run("x", lambda: 7, record=False) == 7
    assert timer.median("x") is None
    for _ in range(3):
        timer.run("x", lambda: None, record=True)
    assert len(timer.times["x"]) == 3 and timer.median("x") >= 0


def test_noise_dataset_loads_with_labels(train_step, tmp_path):
    root = train_step.write_noise_dataset(tmp_path / "noise", resolution=16, count=7)
    dataset = ImageFolderDataset(root, use_labels=True)
    assert len(dataset) == 7 and dataset[0][0].shape == (3, 16, 16)
    labels = [int(np.argmax(dataset.get_label(i))) for i in range(7)]
    assert labels == [0, 1, 2, 0, 1, 2, 0]
