"""The segment-cv comparison: per recipe, set and metric the mean +- sd over folds with its 95% t-interval,
the paired t-test of each recipe against ``none`` over the folds (thygan.metrics.paired_folds), as CSV and
markdown, and a bar plot per metric (one bar per recipe, grouped by evaluation set, 95% interval).

Scores are fractions in [0, 1] (PQ as the HoVer-Net and PanNuke papers print it); intervals of the mean are
clipped to [0, 1], differences are not.
"""

import math
import os
from pathlib import Path

from thygan.io.atomic import atomic_path, atomic_write_text
from thygan.io.tables import markdown_table, write_csv
from thygan.metrics.paired_folds import BASELINE, paired_against_baseline, score_interval

METRIC_TITLES = {"pq": "PQ", "aji": "AJI", "dice": "Dice", "mPQ": "mPQ", "bPQ": "bPQ"}


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _summary(values: list[float]) -> tuple[float | None, float | None, float | None, float | None]:
    """(mean, sd, low, high) of the finite values, the interval clipped to [0, 1]; all None without values."""
    values = _finite(values)
    return score_interval(values) if values else (None, None, None, None)


def write_comparison(fold_rows: list[dict], out_dir: str | Path) -> None:
    """comparison_folds.csv (recipe x set x fold), comparison.csv (summaries and paired tests), comparison.md
    and comparison.png from rows ``{"recipe", "set", "fold", "images", "pq", "aji", "dice"[, "mPQ", "bPQ"]}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = [key for key in METRIC_TITLES if any(key in row for row in fold_rows)]
    write_csv(out_dir / "comparison_folds.csv",
              [{k: row.get(k) for k in ("recipe", "set", "fold", "images", *metrics)} for row in fold_rows])
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in fold_rows:
        groups.setdefault((row["recipe"], row["set"]), []).append(row)
    has_baseline = any(recipe == BASELINE for recipe, _ in groups)
    summary, table, paired_rows, bars = [], [], [], []
    for (recipe, set_name), rows in groups.items():
        numbers = {"recipe": recipe, "set": set_name, "folds": len(rows)}
        line = {"recipe": recipe, "set": set_name, "folds": len(rows)}
        paired_line = {"recipe": recipe, "set": set_name}
        for key in metrics:
            mean, sd, low, high = _summary([row.get(key) for row in rows])
            numbers |= {f"{key}_mean": mean, f"{key}_sd": sd, f"{key}_low": low, f"{key}_high": high}
            title = METRIC_TITLES[key]
            line[title] = "n/a" if mean is None else f"{mean:.3f} ± {sd:.3f}"
            line[f"{title} 95% CI"] = "n/a" if low is None else f"[{low:.3f}, {high:.3f}]"
            test = paired_against_baseline(groups, recipe, set_name, key)
            if has_baseline:
                numbers |= test.columns(f"{key}_vs_none")
            paired_line[title] = test.text(digits=3)
            bars.append({"metric": title, "recipe": recipe, "set": set_name, "mean": mean, "low": low, "high": high})
        summary.append(numbers)
        table.append(line)
        if recipe != BASELINE and (BASELINE, set_name) in groups:
            paired_rows.append(paired_line)
    write_csv(out_dir / "comparison.csv", summary)
    text = ("Segmentation scores on each set, mean ± sd over folds (sample sd) and the 95% t-interval of the "
            "mean; one HoVer-Net per recipe and fold, held-out fold = 'cv test':\n\n" + markdown_table(table))
    if paired_rows:
        text += ("\nPaired against 'none' over the folds (recipe minus none): mean difference [95% t-interval], "
                 "two-sided paired t-test p (scipy.stats.ttest_rel), n folds; n/a below 2 folds. Folds share "
                 "training images, so p is optimistic.\n\n" + markdown_table(paired_rows))
    atomic_write_text(out_dir / "comparison.md", text)
    comparison_plot(bars, out_dir / "comparison.png")


def comparison_plot(bars: list[dict], path: str | os.PathLike) -> Path:
    """One panel per metric; in each, a group of bars per evaluation set, one bar per recipe (mean, 95% interval).

    Args:
        bars: ``{"metric", "recipe", "set", "mean", "low", "high"}`` each (fractions; None where unknown).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(b["metric"] for b in bars))
    sets = list(dict.fromkeys(b["set"] for b in bars))
    recipes = list(dict.fromkeys(b["recipe"] for b in bars))
    width = 0.8 / len(recipes)
    panel = 1.4 + 0.5 * len(sets) * len(recipes)
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols + 1.5, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        for r, recipe in enumerate(recipes):
            for s, set_name in enumerate(sets):
                found = [b for b in bars if (b["metric"], b["recipe"], b["set"]) == (metric, recipe, set_name)]
                if not found or found[0]["mean"] is None:
                    continue
                bar = found[0]
                x = s + (r - (len(recipes) - 1) / 2) * width
                error = None if bar["low"] is None else [[bar["mean"] - bar["low"]], [bar["high"] - bar["mean"]]]
                ax.bar(x, bar["mean"], width, yerr=error, capsize=3, color=f"C{r}",
                       label=recipe if s == 0 else None)
                top = bar["mean"] if bar["high"] is None else bar["high"]
                ax.text(x, top + 0.02, f"{bar['mean']:.2f}", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(range(len(sets)), sets, fontsize=8)
        ax.set_ylim(0, 1.12)  # room for the value above a bar at 1
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    for row in axes:
        row[0].set_ylabel("mean over folds, 95% CI")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="recipe", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
