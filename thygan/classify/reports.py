"""Pictures and tables of downstream runs: training curves, the patient-level confusion matrix, and
the cross-validation comparison's bar plot with intervals (its tables: thygan.io.tables)."""

import os
from pathlib import Path

import numpy as np

from thygan.io.atomic import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _figure().close(fig)
    return Path(path)


def training_curves(history: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch, training and validation (the study's Training_Curves.png)."""
    from matplotlib.ticker import MaxNLocator

    plt = _figure()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    for ax, key, title in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        ax.plot(epochs, history[f"train_{key}"], label="train", marker="o", markersize=3)
        ax.plot(epochs, history[f"val_{key}"], label="validation", marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion_matrix_plot(cm: np.ndarray, class_names: list[str], path: str | os.PathLike, *,
                          title: str = "Patient-level confusion matrix") -> Path:
    """Counts and row-normalised percentages (the study's Conf_Matrix.png)."""
    plt = _figure()
    size = 1.6 + 1.2 * len(class_names)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]}\n{100 * share[i, j]:.1f}%", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    return _save(fig, path)


def comparison_plot(bars: list[dict], path: str | os.PathLike, *, metric: str = "patient accuracy") -> Path:
    """Grouped bars: one group per evaluation set, one bar per recipe, mean with its 95% interval.

    Args:
        bars: ``{"recipe", "set", "mean", "low", "high"}`` each (fractions; low/high may be None).
    """
    plt = _figure()
    sets = list(dict.fromkeys(bar["set"] for bar in bars))
    recipes = list(dict.fromkeys(bar["recipe"] for bar in bars))
    width = 0.8 / len(recipes)
    fig, ax = plt.subplots(figsize=(3.5 + 1.2 * len(sets) * len(recipes), 4))
    for r, recipe in enumerate(recipes):
        for s, name in enumerate(sets):
            bar = next((b for b in bars if b["recipe"] == recipe and b["set"] == name), None)
            if bar is None:
                continue
            x = s + (r - (len(recipes) - 1) / 2) * width
            error = None
            if bar["low"] is not None:
                error = [[100 * (bar["mean"] - bar["low"])], [100 * (bar["high"] - bar["mean"])]]
            ax.bar(x, 100 * bar["mean"], width, yerr=error, capsize=4, color=f"C{r}",
                   label=recipe if s == 0 else None)
            ax.text(x, 1, f"{100 * bar['mean']:.1f}", ha="center", va="bottom", fontsize=8, color="white")
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{metric}: mean over folds, 95% interval")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="gan_params", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # never over a bar
    return _save(fig, path)


def image_count_table(class_names: list[str], real: dict[int, int], synthetic: dict[int, int], recipe: str) -> str:
    """Training images per label: real, the recipe's synthetic ones, and their sum (a dry run's plan)."""
    width = max(len("label"), *(len(f"{label} {name}") for label, name in enumerate(class_names)))
    lines = [f"{'label':<{width}}  {'real':>7}  {'synthetic':>9}  {'total':>7}   (gan_params: {recipe})"]
    for label, name in enumerate(class_names):
        r, s = real.get(label, 0), synthetic.get(label, 0)
        lines.append(f"{f'{label} {name}':<{width}}  {r:>7}  {s:>9}  {r + s:>7}")
    r, s = sum(real.values()), sum(synthetic.values())
    lines.append(f"{'all':<{width}}  {r:>7}  {s:>9}  {r + s:>7}")
    return "\n".join(lines)
