"""Figures of a training run folder: the series plotted are the stats.jsonl / metric jsonl values, the
best snapshot is picked in the metric's direction, the reals grid appears pixel-exact (upscaled) left
of the latest fakes, and missing or malformed inputs are one-line UserErrors naming the file."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from tests.conftest import single_threaded
from tests.stylegan.conftest import write_tiny_dataset
from tests.stylegan.test_training import tiny_options
from thygan.errors import UserError
from thygan.metrics.report import metric_record
from thygan.runs import append_metric_record
from thygan.viz.training_run import (
    MIN_GRID_HEIGHT,
    class_names,
    grid_row_labels,
    latest_fakes,
    metric_figure,
    metric_histories,
    plot_metric_over_kimg,
    plot_training_curves,
    read_metric,
    reals_vs_fakes,
    training_curves_figure,
    training_series,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real 4-minibatch conditional run (3 ticks, 16 px, classes class0..class2), ~2 s on CPU."""
    from thygan.stylegan.training_loop import training_loop
    from thygan.stylegan.training_options import options_to_json

    root = tmp_path_factory.mktemp("training_run")
    opts = tiny_options(write_tiny_dataset(root / "data"))
    run_dir = root / "00000-tiny"
    run_dir.mkdir()
    (run_dir / "training_options.json").write_text(options_to_json(opts))
    with single_threaded():
        training_loop(opts, run_dir, max_steps=4)
    return run_dir


def stat(mean, std=0.0, n=1):
    return {"n": n, "mean": mean, "std": std}


def write_stats(run_dir, records, *, tail=""):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return run_dir


def plotted(fig):
    """{line label: [N, 2] (x, y)} over every panel of a figure."""
    return {line.get_label(): line.get_xydata() for ax in fig.axes for line in ax.lines}


def load_png(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- training curves ----------------------------------------------------------------------------

HAND_STATS = [
    {"Progress/kimg": stat(0.0), "Progress/augment": stat(0.0), "Loss/G/loss": stat(1.5, 0.5),
     "Loss/D/loss": stat(2.0, 0.25), "Loss/r1_penalty": stat(0.03, 0.01), "Loss/pl_penalty": stat(0.6)},
    {"Progress/kimg": stat(4.0), "Progress/augment": stat(0.02), "Loss/G/loss": stat(1.25, 0.5),
     "Loss/D/loss": stat(1.5, 0.25), "Loss/r1_penalty": stat(0.0, 0.0, n=0)},
    {"Progress/kimg": stat(8.0), "Progress/augment": stat(0.05), "Loss/G/loss": stat(1.0, 0.5),
     "Loss/D/loss": stat(1.25, 0.25), "Loss/r1_penalty": stat(0.05, 0.01), "Loss/pl_penalty": stat(0.4)},
]


def test_training_series_reads_hand_written_stats(tmp_path):
    run_dir = write_stats(tmp_path / "run", HAND_STATS, tail='{"Progress/kimg": {"n": 1, "me')  # being appended
    series = training_series(run_dir)
    assert set(series) == {"Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "Loss/pl_penalty", "Progress/augment"}
    np.testing.assert_array_equal(series["Loss/G/loss"].kimg, [0, 4, 8])
    np.testing.assert_array_equal(series["Loss/G/loss"].mean, [1.5, 1.25, 1.0])
    np.testing.assert_array_equal(series["Loss/D/loss"].std, [0.25, 0.25, 0.25])
    np.testing.assert_array_equal(series["Loss/r1_penalty"].kimg, [0, 8])  # n = 0 at kimg 4: not a point
    np.testing.assert_array_equal(series["Loss/pl_penalty"].mean, [0.6, 0.4])
    np.testing.assert_array_equal(series["Progress/augment"].mean, [0, 0.02, 0.05])


def test_training_curves_plot_the_stats_values(tmp_path):
    run_dir = write_stats(tmp_path / "run", HAND_STATS)
    fig = training_curves_figure(training_series(run_dir), title="run")
    assert len(fig.axes) == 3  # losses, penalties, augment p
    lines = plotted(fig)
    np.testing.assert_array_equal(lines["G loss"], [[0, 1.5], [4, 1.25], [8, 1.0]])
    np.testing.assert_array_equal(lines["D loss"], [[0, 2.0], [4, 1.5], [8, 1.25]])
    np.testing.assert_array_equal(lines["R1 penalty"], [[0, 0.03], [8, 0.05]])
    np.testing.assert_array_equal(lines["augment p"], [[0, 0], [4, 0.02], [8, 0.05]])
    assert len(fig.axes[0].collections) == 2  # a +-std band per loss
    dest = plot_training_curves(run_dir, tmp_path / "out" / "curves.png")
    assert dest == tmp_path / "out" / "curves.png"
    assert load_png(dest).shape[0] > load_png(dest).shape[1] * 0.8  # three stacked panels


def test_single_tick_without_augmentation_draws_markers(tmp_path):
    record = {"Progress/kimg": stat(0.004), "Progress/augment": stat(0.0), "Loss/G/loss": stat(0.7),
              "Loss/D/loss": stat(1.4)}
    run_dir = write_stats(tmp_path / "run", [record])
    series = training_series(run_dir)
    fig = training_curves_figure(series, title="run", show_augment=False)
    assert len(fig.axes) == 1  # no penalties recorded, p never left 0 and no options say ADA
    assert all(line.get_marker() == "o" for line in fig.axes[0].lines)
    assert plotted(fig)["G loss"].tolist() == [[0.004, 0.7]]
    assert fig.axes[0].get_xlim() == pytest.approx((-0.996, 1.004))  # not matplotlib's +-0.0002
    image = load_png(plot_training_curves(run_dir, tmp_path / "one_tick.png"))
    assert image.shape[1] > image.shape[0]  # a single panel: wider than tall


def test_curves_of_a_real_run_match_its_stats(tiny_run, tmp_path):
    records = [json.loads(line) for line in (tiny_run / "stats.jsonl").read_text().splitlines()]
    series = training_series(tiny_run)
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "Loss/pl_penalty"):
        expected = [(r["Progress/kimg"]["mean"], r[key]["mean"]) for r in records if key in r]
        assert list(zip(series[key].kimg, series[key].mean)) == expected, key
    assert len(series["Loss/r1_penalty"].kimg) < len(series["Loss/G/loss"].kimg)  # lazy R1 skips the last tick
    image = load_png(plot_training_curves(tiny_run, tmp_path / "curves.png"))
    assert image.ndim == 3 and min(image.shape[:2]) > 300


# --- metrics ------------------------------------------------------------------------------------

def append(run_dir, name, results, kimg):
    append_metric_record(run_dir, metric_record(name, results, total_time=1.0, num_gpus=1,
                                               snapshot=f"network-snapshot-{kimg:06d}.safetensors"))


def perclass(mean, a, b):
    return {"fid8_perclass_mean": mean, "fid8_perclass_class0": a, "fid8_perclass_class1": b}


def test_read_metric_per_class_two_snapshots(tmp_path):
    append(tmp_path, "fid8_perclass", perclass(30.0, 20.0, 40.0), 8)  # written out of kimg order
    append(tmp_path, "fid8_perclass", perclass(50.0, 45.0, 55.0), 4)
    history = read_metric(tmp_path / "metric-fid8_perclass.jsonl")
    assert history.name == "fid8_perclass" and history.per_class and history.lower_is_better
    np.testing.assert_array_equal(history.kimg, [4, 8])
    assert list(history.values) == ["mean", "class0", "class1"]
    np.testing.assert_array_equal(history.values["class1"], [55.0, 40.0])
    assert history.headline == ["mean"] and history.best("mean") == (8.0, 30.0)
    lines = plotted(metric_figure([history], title="run"))
    np.testing.assert_array_equal(lines["mean"], [[4, 50.0], [8, 30.0]])
    np.testing.assert_array_equal(lines["class0"], [[4, 45.0], [8, 20.0]])
    assert lines["best mean: 30 @ 8 kimg"].tolist() == [[8, 30.0]]


def test_higher_is_better_metrics_and_reevaluated_snapshots(tmp_path):
    append(tmp_path, "pr50k3", {"pr50k3_precision": 0.5, "pr50k3_recall": 0.2}, 0)
    append(tmp_path, "pr50k3", {"pr50k3_precision": 0.7, "pr50k3_recall": 0.1}, 2)
    append(tmp_path, "pr50k3", {"pr50k3_precision": 0.6, "pr50k3_recall": 0.3}, 2)  # snapshot 2 again: wins
    history = read_metric(tmp_path / "metric-pr50k3.jsonl")
    assert history.lower_is_better is False and history.headline == ["precision", "recall"]
    np.testing.assert_array_equal(history.values["precision"], [0.5, 0.6])
    assert history.best("precision") == (2.0, 0.6) and history.best("recall") == (2.0, 0.3)
    append(tmp_path, "is10", {"is10_mean": 2.0, "is10_std": 0.1}, 0)
    inception = read_metric(tmp_path / "metric-is10.jsonl")
    assert list(inception.values) == ["mean"] and inception.bands["mean"].tolist() == [0.1]


def test_plot_metric_over_kimg_one_panel_per_metric(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append(run_dir, "fid8_perclass", perclass(30.0, 20.0, 40.0), 0)  # a single snapshot still shows points
    append(run_dir, "kid8", {"kid8": 0.5}, 0)
    append(run_dir, "kid8", {"kid8": 0.25}, 4)
    histories = metric_histories(run_dir)
    assert [h.name for h in histories] == ["fid8_perclass", "kid8"]
    fig = metric_figure(histories, title="run")
    assert len(fig.axes) == 2 and all(line.get_marker() in ("o", "*") for line in fig.axes[0].lines)
    assert fig.axes[0].get_title(loc="left") == "fid8_perclass (lower is better)"
    assert [h.name for h in metric_histories(run_dir, "kid8")] == ["kid8"]
    both = load_png(plot_metric_over_kimg(run_dir, tmp_path / "metrics.png"))
    one = load_png(plot_metric_over_kimg(run_dir, tmp_path / "kid.png", metric="kid8"))
    assert both.shape[0] > one.shape[0]


# --- reals beside fakes -------------------------------------------------------------------------

def find_block(canvas, block):
    """Top-left (y, x) of every exact occurrence of ``block`` in ``canvas`` ([H, W, 3] uint8 both)."""
    h, w = block.shape[:2]
    ys, xs = np.nonzero(np.all(canvas[:canvas.shape[0] - h + 1, :canvas.shape[1] - w + 1] == block[0, 0], axis=-1))
    return [(int(y), int(x)) for y, x in zip(ys, xs)
            if np.array_equal(canvas[y, x:x + w], block[0]) and np.array_equal(canvas[y:y + h, x:x + w], block)]


def test_reals_vs_fakes_places_exact_pixels(tiny_run, tmp_path):
    reals, (fakes_path, kimg) = load_png(tiny_run / "reals.png"), latest_fakes(tiny_run)
    assert fakes_path.name == "fakes000000.png" and kimg == 0  # 16 images: still kimg 0
    fakes = load_png(fakes_path)
    scale = math.ceil(MIN_GRID_HEIGHT / reals.shape[0])
    assert scale > 1  # 3 rows of 16 px
    figure = load_png(reals_vs_fakes(tiny_run, tmp_path / "reals_vs_fakes.png"))
    up_reals, up_fakes = (g.repeat(scale, 0).repeat(scale, 1) for g in (reals, fakes))
    [(ry, rx)] = find_block(figure, up_reals)
    [(fy, fx)] = find_block(figure, up_fakes)
    assert ry == fy > 0 and rx > 0 and fx >= rx + up_reals.shape[1]  # side by side below titles, labels left
    assert figure.shape[0] >= MIN_GRID_HEIGHT and figure.shape[1] >= 2 * up_reals.shape[1]


def test_row_labels_are_the_class_names(tiny_run, tmp_path):
    assert class_names(tiny_run) == ["class0", "class1", "class2"]
    assert grid_row_labels(tiny_run, 3 * 16) == ["class0", "class1", "class2"]
    assert grid_row_labels(tiny_run, 4 * 16) is None  # not one row per class
    run_dir = tmp_path / "unconditional"
    run_dir.mkdir()
    (run_dir / "training_options.json").write_text(json.dumps({"data": {"resolution": 16, "class_names": None}}))
    assert grid_row_labels(run_dir, 64) is None


def test_newest_fakes_by_kimg(tmp_path):
    for name in ("fakes_init.png", "fakes000009.png", "fakes000012.png", ".fakes000100.png.1a2b3c4d.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert latest_fakes(tmp_path) == (tmp_path / "fakes000012.png", 12)


# --- errors -------------------------------------------------------------------------------------

def run_with(tmp_path, files):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name, text in files.items():
        (run_dir / name).write_text(text)
    return run_dir


GOOD_STATS = json.dumps(HAND_STATS[0]) + "\n"


@pytest.mark.parametrize("files, call, named", [
    ({}, plot_training_curves, "stats.jsonl"),
    ({"stats.jsonl": "{oops\n" + GOOD_STATS}, plot_training_curves, "stats.jsonl line 1"),
    ({"stats.jsonl": '{"Loss/G/loss": {"n": 1, "mean": 1, "std": 0}}\n'}, plot_training_curves, "Progress/kimg"),
    ({"stats.jsonl": '{"Progress/kimg": {"n": 1, "mean": 0, "std": 0}}\n'}, plot_training_curves, "stats.jsonl"),
    ({"stats.jsonl": '{"Progress/kimg": 3}\n'}, plot_training_curves, "stats.jsonl record 1"),
    ({}, plot_metric_over_kimg, "metric-*.jsonl"),
    ({"metric-fid8.jsonl": '{"results": {"fid8": 1}, "snapshot_pkl": "G.pkl"}\n'}, plot_metric_over_kimg,
     "metric-fid8.jsonl record 1"),
    ({"metric-fid8.jsonl": '{"results": 5, "snapshot_pkl": "network-snapshot-000000.pkl"}\n'},
     plot_metric_over_kimg, "metric-fid8.jsonl"),
    ({"fakes000000.png": ""}, reals_vs_fakes, "reals.png"),
    ({"reals.png": "not a png", "fakes000000.png": ""}, reals_vs_fakes, "reals.png"),
])
def test_bad_inputs_are_user_errors_naming_the_file(tmp_path, files, call, named):
    run_dir = run_with(tmp_path, files)
    dest = tmp_path / "out.png"
    with pytest.raises(UserError) as info:
        call(run_dir, dest)
    assert named in str(info.value) and "\n" not in str(info.value)
    assert not dest.exists()


def test_missing_fakes_and_named_metric(tiny_run, tmp_path):
    run_dir = run_with(tmp_path, {})
    (run_dir / "reals.png").write_bytes((tiny_run / "reals.png").read_bytes())
    with pytest.raises(UserError, match="fakesNNNNNN.png"):
        reals_vs_fakes(run_dir, tmp_path / "out.png")
    with pytest.raises(UserError, match="metric-fid50k_full.jsonl: not found"):
        plot_metric_over_kimg(tiny_run, tmp_path / "out.png", metric="fid50k_full")

