"""Figures of one StyleGAN2-ADA training run folder, as ``thygan train`` writes it: loss and
regularisation curves (``stats.jsonl``), metrics over kimg (``metric-<name>.jsonl``), and the reals
grid beside the latest fakes grid (``reals.png``, ``fakesNNNNNN.png``).

The readers are small pure functions; the figures are drawn on ``matplotlib.figure.Figure`` with the
Agg canvas, never pyplot, so no global backend is touched; every PNG is written atomically. A missing
or malformed input is a ``UserError`` that names the file.
"""

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from thygan.errors import UserError
from thygan.io.atomic import atomic_path
from thygan.runs import NETWORK_SNAPSHOTS, STATS_FILE, latest_snapshot_json, metric_file, metric_files, read_jsonl

KIMG_KEY = "Progress/kimg"
AUGMENT_KEY = "Progress/augment"
LOSS_KEYS = {"Loss/G/loss": "G loss", "Loss/D/loss": "D loss"}
PENALTY_KEYS = {"Loss/r1_penalty": "R1 penalty", "Loss/pl_penalty": "path-length penalty"}
COLOURS = {"Loss/G/loss": "tab:blue", "Loss/D/loss": "tab:orange", "Loss/r1_penalty": "tab:green",
           "Loss/pl_penalty": "tab:red", AUGMENT_KEY: "tab:purple"}
LOWER_IS_BETTER = {"fid": True, "kid": True, "pr": False, "is": False}  # by metric kind
MARKER_MAX_POINTS = 40   # curves with at most this many points show a marker at each point
MIN_GRID_HEIGHT = 512    # px: smaller grids are upscaled by an integer factor (nearest neighbour)
MAX_GRIDS_WIDTH = 6144   # px: wider grids (large resolutions) are downscaled to fit side by side
_FAKES = re.compile(r"^fakes(\d+)\.png$")


class Series(NamedTuple):
    """One per-tick statistic: kimg [T], mean [T], std [T] float64."""

    kimg: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def run_options(run_dir: str | Path) -> dict:
    """The run's options: ``training_options.json``, else those in the latest snapshot JSON, else {}."""
    run_dir = Path(run_dir)
    if (run_dir / "training_options.json").is_file():
        return _read_json(run_dir / "training_options.json")
    snapshot = latest_snapshot_json(run_dir)
    options = _read_json(snapshot).get("training_options") if snapshot else None
    return options if isinstance(options, dict) else {}


def _data_options(run_dir: Path) -> dict:
    data = run_options(run_dir).get("data")
    return data if isinstance(data, dict) else {}


def class_names(run_dir: str | Path) -> list[str] | None:
    """Class names of a conditional run: the latest snapshot JSON's, else the options'; None if unknown."""
    run_dir = Path(run_dir)
    snapshot = latest_snapshot_json(run_dir)
    names = _read_json(snapshot).get("class_names") if snapshot else None
    source = snapshot
    if names is None:
        names, source = _data_options(run_dir).get("class_names"), run_dir / "training_options.json"
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise UserError(f"{source}: 'class_names' must be null or a list of strings")
    return names


# --- training curves ----------------------------------------------------------------------------

def _entry(path: Path, number: int, record: dict, key: str) -> tuple[float, float] | None:
    """(mean, std) of one stats entry; None when absent or empty (a phase that did not run that tick)."""
    entry = record.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("mean"), int | float):
        raise UserError(f"{path} record {number}: '{key}' is not an {{n, mean, std}} entry")
    if entry.get("n", 1) == 0:
        return None
    std = entry.get("std", 0.0)
    return float(entry["mean"]), float(std) if isinstance(std, int | float) else 0.0


def training_series(run_dir: str | Path) -> dict[str, Series]:
    """The per-tick losses, penalties and augment p of ``stats.jsonl`` against kimg.

    Returns:
        {stats key: Series} for the keys of LOSS_KEYS, PENALTY_KEYS and AUGMENT_KEY that occur. A tick
        without an entry (R1 between lazy-regularisation steps, say) is left out of that series.
    """
    path = Path(run_dir) / STATS_FILE
    records = read_jsonl(path)
    if not records:
        raise UserError(f"{path}: no ticks recorded yet")
    rows: dict[str, list] = {key: [] for key in (*LOSS_KEYS, *PENALTY_KEYS, AUGMENT_KEY)}
    for number, record in enumerate(records, 1):
        kimg = _entry(path, number, record, KIMG_KEY)
        if kimg is None:
            raise UserError(f"{path} record {number}: no '{KIMG_KEY}' entry")
        for key, values in rows.items():
            if (value := _entry(path, number, record, key)) is not None:
                values.append((kimg[0], *value))
    if not any(rows[key] for key in (*LOSS_KEYS, *PENALTY_KEYS)):
        raise UserError(f"{path}: no loss or penalty entries in any tick")
    return {key: Series(*np.array(values, np.float64).T) for key, values in rows.items() if values}


def augmentation_ran(run_dir: str | Path, series: dict[str, Series]) -> bool:
    """Whether to show augment p: it left 0, or the options say ADA adjusted it."""
    augment = series.get(AUGMENT_KEY)
    if augment is not None and np.any(augment.mean > 0):
        return True
    options = run_options(run_dir).get("augment")
    return isinstance(options, dict) and options.get("mode") == "ada" and options.get("target") is not None


def _plot_series(ax, series: Series, *, label: str, colour: str, band: bool) -> None:
    marker = "o" if len(series.kimg) <= MARKER_MAX_POINTS else None
    ax.plot(series.kimg, series.mean, label=label, color=colour, marker=marker,
            markersize=6 if len(series.kimg) == 1 else 3, linewidth=1.4)
    if band and len(series.kimg) > 1 and np.any(series.std > 0):
        ax.fill_between(series.kimg, series.mean - series.std, series.mean + series.std, color=colour, alpha=0.15,
                        linewidth=0)


def _widen_single_kimg(ax, kimg: np.ndarray) -> None:
    """One snapshot or tick: show +-1 kimg around it instead of matplotlib's tiny default span."""
    if kimg.size and np.ptp(kimg) == 0:
        ax.set_xlim(kimg[0] - 1, kimg[0] + 1)


def _positive_and_spread(values: np.ndarray) -> bool:
    """A log axis reads better when all values are positive and span more than a factor 30."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 30


def training_curves_figure(series: dict[str, Series], *, title: str, show_augment: bool = True):
    """Up to three panels sharing the kimg axis: losses (band: ±1 std over the tick), penalties, augment p."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(LOSS_KEYS, "losses (mean per tick, band ±1 std)", "loss"),
              (PENALTY_KEYS, "regularisation", "penalty")]
    if show_augment:
        panels.append(({AUGMENT_KEY: "augment p"}, "augmentation probability (ADA)", "p"))
    panels = [panel for panel in panels if any(key in series for key in panel[0])]
    fig = Figure(figsize=(8, 0.6 + 2.4 * len(panels)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (names, heading, ylabel) in zip(axes, panels):
        present = [key for key in names if key in series]
        for key in present:
            _plot_series(ax, series[key], label=names[key], colour=COLOURS[key], band=names is LOSS_KEYS)
        if names is PENALTY_KEYS and _positive_and_spread(np.concatenate([series[k].mean for k in present])):
            ax.set_yscale("log")
        if AUGMENT_KEY in present:
            ax.set_ylim(bottom=0)
        ax.set_title(heading, loc="left", fontsize="medium")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("kimg")
    _widen_single_kimg(axes[-1], np.concatenate([s.kimg for s in series.values()]))
    fig.suptitle(title)
    return fig


def _save_figure(fig, dest: str | Path) -> Path:
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=fig.dpi)
    return dest


def plot_training_curves(run_dir: str | Path, dest: str | Path) -> Path:
    """Write the loss, penalty and (when augmentation ran) augment-p curves of a run to ``dest`` (PNG)."""
    series = training_series(run_dir)
    fig = training_curves_figure(series, title=Path(run_dir).resolve().name,
                                 show_augment=augmentation_ran(run_dir, series))
    return _save_figure(fig, dest)


# --- metrics over kimg --------------------------------------------------------------------------

@dataclass
class MetricHistory:
    """One metric of a run over its snapshots.

    Attributes:
        name: The metric (``fid50k_full``, ``kid2k_full_perclass``...).
        kimg: [S] the snapshots' kimg, ascending.
        values: {line: [S]} one line per result (``mean`` and one per class for per-class metrics,
            ``precision``/``recall``, or the metric's own name); NaN where a snapshot lacks it.
        bands: {line: [S]} a std drawn around that line (IS reports mean and std).
        headline: The lines whose best value is marked.
        lower_is_better: True for FID/KID, False for PR/IS, None for a name that is no known metric.
        per_class: Whether the lines are classes plus their mean.
    """

    name: str
    kimg: np.ndarray
    values: dict[str, np.ndarray]
    bands: dict[str, np.ndarray]
    headline: list[str]
    lower_is_better: bool | None
    per_class: bool

    def best(self, line: str) -> tuple[float, float] | None:
        """(kimg, value) of the line's best finite value; None when it has none or no direction is known."""
        values = self.values[line]
        if self.lower_is_better is None or not np.any(np.isfinite(values)):
            return None
        index = int(np.nanargmin(values) if self.lower_is_better else np.nanargmax(values))
        return float(self.kimg[index]), float(values[index])


def _line_name(metric: str, key: str) -> str:
    return key[len(metric) + 1:] if key.startswith(metric + "_") else key


def _snapshot_kimg(path: Path, number: int, record: dict) -> float:
    snapshot = record.get("snapshot_pkl")
    kimg = NETWORK_SNAPSHOTS.index_of(snapshot) if isinstance(snapshot, str) else None
    if kimg is None:
        raise UserError(f"{path} record {number}: snapshot_pkl {snapshot!r} names no network-snapshot-NNNNNN "
                        f"file, so its kimg is unknown")
    return kimg


def read_metric(path: str | Path) -> MetricHistory:
    """Parse one ``metric-<name>.jsonl``; a snapshot evaluated twice keeps its latest line."""
    from thygan.metrics.specs import parse_metric_name

    path = Path(path)
    records = read_jsonl(path)
    if not records:
        raise UserError(f"{path}: no results recorded yet")
    by_kimg = {}
    for number, record in enumerate(records, 1):
        results = record.get("results")
        if not isinstance(results, dict) or not all(isinstance(v, int | float) for v in results.values()):
            raise UserError(f"{path} record {number}: 'results' must map result names to numbers")
        by_kimg[_snapshot_kimg(path, number, record)] = results
    name = records[-1].get("metric")
    name = name if isinstance(name, str) else path.stem.removeprefix("metric-")
    kimg = sorted(by_kimg)
    keys = dict.fromkeys(key for results in by_kimg.values() for key in results)
    values = {_line_name(name, key): np.array([by_kimg[k].get(key, np.nan) for k in kimg], np.float64)
              for key in keys}
    spec = parse_metric_name(name)
    bands = {"mean": values.pop("std")} if spec and spec.kind == "is" and {"mean", "std"} <= values.keys() else {}
    headline = [line for line in (_line_name(name, k) for k in spec.result_keys()) if line in values] if spec \
        else list(values)
    return MetricHistory(name=name, kimg=np.array(kimg, np.float64), values=values, bands=bands, headline=headline,
                         lower_is_better=LOWER_IS_BETTER[spec.kind] if spec else None,
                         per_class=bool(spec and spec.per_class))


def metric_histories(run_dir: str | Path, metric: str | None = None) -> list[MetricHistory]:
    """Every ``metric-*.jsonl`` of a run (by name), or only ``metric-<metric>.jsonl``."""
    run_dir = Path(run_dir)
    if metric is not None:
        return [read_metric(metric_file(run_dir, metric))]
    paths = metric_files(run_dir)
    if not paths:
        raise UserError(f"{run_dir / 'metric-*.jsonl'}: none found (the run evaluated no metrics; see --metrics)")
    return [read_metric(path) for path in paths]


def _plot_metric(ax, history: MetricHistory) -> None:
    from matplotlib.ticker import MaxNLocator

    marker = "o" if len(history.kimg) <= MARKER_MAX_POINTS else None
    for line, values in history.values.items():
        emphasis = {"color": "black", "linewidth": 2.2, "zorder": 3} if history.per_class and line == "mean" \
            else {"linewidth": 1.2 if history.per_class else 1.8, "alpha": 0.85 if history.per_class else 1}
        ax.plot(history.kimg, values, label=line, marker=marker, markersize=4, **emphasis)
        if line in history.bands:
            ax.fill_between(history.kimg, values - history.bands[line], values + history.bands[line], alpha=0.15,
                            linewidth=0, color=ax.lines[-1].get_color())
    for line in history.headline:
        if (best := history.best(line)) is not None:
            ax.plot(*best, linestyle="none", marker="*", markersize=15, color="gold", markeredgecolor="black",
                    zorder=4, label=f"best {line}: {best[1]:.4g} @ {best[0]:g} kimg")
            ax.annotate(f"{best[1]:.4g}", best, textcoords="offset points", xytext=(7, 7), fontsize="small")
    direction = {True: "lower is better", False: "higher is better", None: ""}[history.lower_is_better]
    ax.set_title(f"{history.name}" + (f" ({direction})" if direction else ""), loc="left", fontsize="medium")
    ax.set_xlabel("kimg")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # snapshot names carry whole kimg
    _widen_single_kimg(ax, history.kimg)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")


def metric_figure(histories: list[MetricHistory], *, title: str):
    """One panel per metric: a line per result (per class plus a bold mean), the best value starred."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.6 + 3 * len(histories)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    for ax, history in zip(fig.subplots(len(histories), 1, squeeze=False)[:, 0], histories):
        _plot_metric(ax, history)
    fig.suptitle(title)
    return fig


def plot_metric_over_kimg(run_dir: str | Path, dest: str | Path, metric: str | None = None) -> Path:
    """Write every metric of a run (or only ``metric``) against kimg to ``dest`` (PNG)."""
    fig = metric_figure(metric_histories(run_dir, metric), title=Path(run_dir).resolve().name)
    return _save_figure(fig, dest)


# --- reals beside fakes -------------------------------------------------------------------------

def latest_fakes(run_dir: str | Path) -> tuple[Path, int]:
    """The ``fakesNNNNNN.png`` with the largest kimg, and that kimg."""
    run_dir = Path(run_dir)
    found = [(int(m[1]), p) for p in run_dir.glob("fakes*.png") if (m := _FAKES.match(p.name))]
    if not found:
        raise UserError(f"{run_dir / 'fakesNNNNNN.png'}: none found (the run has not finished a tick yet)")
    kimg, path = max(found)
    return path, kimg


def _read_png(path: Path) -> np.ndarray:
    """[H, W, 3] uint8."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except OSError as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None


def grid_row_labels(run_dir: str | Path, grid_height: int) -> list[str] | None:
    """Class names for the rows of a run's grids, when there is one row per class (conditional runs)."""
    names = class_names(run_dir)
    resolution = _data_options(Path(run_dir)).get("resolution")
    if not names or not isinstance(resolution, int) or resolution <= 0 or grid_height % resolution:
        return None
    return names if grid_height // resolution == len(names) else None


def side_by_side(panels: list[np.ndarray], *, titles: list[str], row_labels: list[str] | None = None,
                 min_height: int = MIN_GRID_HEIGHT, max_width: int | None = MAX_GRIDS_WIDTH) -> np.ndarray:
    """Panels [H, W, 3] uint8 on a white canvas, titled above, with row labels on the left.

    All panels get one integer nearest-neighbour upscale so the tallest is at least ``min_height``
    (pixels stay exact); if they are then wider than ``max_width`` together, they are downscaled.
    Returns [H', W', 3] uint8.
    """
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    scale = max(1, math.ceil(min_height / max(p.shape[0] for p in panels)))
    images = [Image.fromarray(np.ascontiguousarray(p.repeat(scale, 0).repeat(scale, 1))) for p in panels]
    total = sum(image.width for image in images)
    if max_width is not None and total > max_width:
        images = [image.resize((max(1, round(image.width * max_width / total)),
                                max(1, round(image.height * max_width / total))), Image.LANCZOS)
                  for image in images]
    height, width = max(image.height for image in images), sum(image.width for image in images)
    size = int(np.clip(max(height, width / 3) / 24, 14, 48))  # readable when a wide figure is shown shrunk
    if row_labels:
        size = int(min(size, max(10, height / len(row_labels) * 0.4)))
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    gap = size
    label_width = max((font.getlength(label) for label in row_labels or []), default=0)
    left = gap + math.ceil(label_width) + (gap // 2 if row_labels else 0)
    top = 2 * size
    canvas = Image.new("RGB", (left + width + gap * len(images), top + height + gap // 2), "white")
    draw = ImageDraw.Draw(canvas)
    x = left
    for image, title in zip(images, titles):
        canvas.paste(image, (x, top))
        draw.text((x + image.width / 2, top / 2), title, fill="black", font=font, anchor="mm")
        x += image.width + gap
    for row, label in enumerate(row_labels or []):
        y = top + (row + 0.5) * images[0].height / len(row_labels)
        draw.text((left - gap // 2, y), label, fill="black", font=font, anchor="rm")
    return np.asarray(canvas)


def reals_vs_fakes(run_dir: str | Path, dest: str | Path) -> Path:
    """Write ``reals.png`` (left, "real") beside the latest ``fakesNNNNNN.png`` (right) to ``dest`` (PNG)."""
    from thygan.io.images import save_png

    run_dir = Path(run_dir)
    reals = _read_png(run_dir / "reals.png")
    fakes_path, kimg = latest_fakes(run_dir)
    image = side_by_side([reals, _read_png(fakes_path)], titles=["real", f"generated, {kimg} kimg"],
                         row_labels=grid_row_labels(run_dir, reals.shape[0]))
    return save_png(dest, image)
