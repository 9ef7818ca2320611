"""Figures of ``thygan segment compare``: nucleus areas, counts and types per set, and overlays side by side.

The numbers come from ``thygan.segment.compare``; nothing here computes a statistic. Figures are drawn on
``matplotlib.figure.Figure`` without pyplot (no global backend touched) and saved atomically.
"""

from pathlib import Path

import numpy as np

from thygan.io.atomic import atomic_path
from thygan.segment.compare import Comparison

MAX_BARS = 30  # above this many common images the per-image panel becomes a scatter against the first set


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=fig.dpi, bbox_inches="tight")


def _set_colours(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]


def _num(x: float, digits: int | None = None, *, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if digits is None:  # p-values
        return f"{x:.2g}" if x >= 1e-4 else f"{x:.0e}"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _title(ax, title: str, tests: list[str]) -> None:
    """Panel title with the pairwise test results on small lines below it."""
    ax.set_title(title + "".join(f"\n{line}" for line in tests), fontsize=9 if tests else 11)


def common_images(result: Comparison) -> list[str]:
    """Images every set has, sorted by name."""
    names = set(result.sets[0].images)
    for s in result.sets[1:]:
        names &= set(s.images)
    return sorted(names)


def draw_compare(result: Comparison, path: str | Path, *, type_info: dict | None = None) -> None:
    """compare.png: area histograms, nuclei per image, type shares (when the model has types)."""
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    typed = bool(result.type_names)
    fig = Figure(figsize=(16 if typed else 11, 4.6), dpi=110, layout="constrained")
    axes = fig.subplots(1, 3 if typed else 2, gridspec_kw={"width_ratios": [1, 1.3, 0.9] if typed else [1, 1.3]})
    colours = _set_colours(len(result.sets))
    names = common_images(result) or sorted(result.sets[0].images)
    fig.suptitle(f"Segmentation of {len(result.sets)} sets on {len(names)} common images")

    ax = axes[0]
    pooled = [s.pooled(sorted(s.images), "areas") for s in result.sets]
    everything = np.concatenate(pooled)
    top = float(np.percentile(everything, 99)) if len(everything) else 1.0
    width = max(1, int(np.ceil(top / 30)))  # whole pixels per bin: areas are integers
    bins = np.arange(0, top + 2 * width, width) - 0.5
    for s, areas, colour in zip(result.sets, pooled, colours):
        if len(areas):
            ax.hist(np.clip(areas, 0, bins[-1]), bins=bins, histtype="step", linewidth=2, color=colour, density=True,
                    label=f"{s.name} (n={len(areas)}, median {np.median(areas):.0f})")
            ax.axvline(np.median(areas), color=colour, linestyle="--", linewidth=1)
        else:  # still in the legend: a set without nuclei is a finding
            ax.plot([], [], color=colour, linewidth=2, label=f"{s.name} (no nuclei)")
    ax.set(xlabel="area (px)", ylabel="density")
    _title(ax, "Nucleus area (inst_map pixels; last bin: 99th pct and above)",
           [f"KS {r['b']} vs {r['a']}: D {_num(r['ks']['D'], 2)}, p {_num(r['ks']['p'])}" for r in result.pairs])
    ax.legend(fontsize=8)

    ax = axes[1]
    counts = [s.counts(names) if set(names) <= set(s.images) else None for s in result.sets]
    if len(names) <= MAX_BARS:
        order = np.argsort(-counts[0], kind="stable")
        width = 0.8 / len(result.sets)
        x = np.arange(len(names))
        for k, (s, c, colour) in enumerate(zip(result.sets, counts, colours)):
            if c is not None:
                ax.bar(x + (k - (len(result.sets) - 1) / 2) * width, c[order], width=width, color=colour,
                       label=f"{s.name} (mean {c.mean():.1f})")
        ax.set_xticks(x, [names[i] for i in order], rotation=90, fontsize=7 if len(names) > 12 else 9)
        ax.set(ylabel="nuclei")
        heading = "Nuclei per image (sorted by the first set)"
    else:
        first = result.sets[0]
        for s, c, colour in zip(result.sets[1:], counts[1:], colours[1:]):
            if c is None:
                continue
            # counts are small integers, so many images share a point: the marker's area says how many
            points, images = np.unique(np.stack([counts[0], c], axis=1), axis=0, return_counts=True)
            ax.scatter(points[:, 0], points[:, 1], s=10 + 290 * images / images.max(), alpha=0.5, color=colour,
                       edgecolors="none", label=f"{s.name} (mean {c.mean():.1f}; bigger = more images)")
            for (x0, y0), n in zip(points, images):
                if n > 1:
                    ax.annotate(str(n), (x0, y0), fontsize=7, ha="center", va="center")
        lim = max(float(np.nanmax(np.concatenate([c for c in counts if c is not None]))), 1.0) * 1.15
        ax.plot([0, lim], [0, lim], color="grey", linewidth=1, label="equal")
        heading = f"Nuclei per image against {first.name} (mean {counts[0].mean():.1f})"
        margin = -0.05 * lim  # room for the markers on the axes (0 nuclei)
        ax.set(xlabel=f"nuclei, {first.name}", ylabel="nuclei, other set", xlim=(margin, lim), ylim=(margin, lim))
    ax.legend(fontsize=8)
    _title(ax, heading, [f"{r['b']} - {r['a']}: {_num(r['count']['mean'], 2, sign=True)} / image, paired t p "
                         f"{_num(r['count']['ttest_p'])}, Wilcoxon p {_num(r['count']['wilcoxon_p'])}"
                         for r in result.pairs])

    if typed:
        ax = axes[2]
        type_colours = {t: (np.array(type_info[str(t)][1]) / 255 if type_info and str(t) in type_info
                            else _set_colours(10)[t % 10]) for t in result.type_names}
        left = np.zeros(len(result.sets))
        shares = []
        for s in result.sets:
            types = s.pooled(sorted(s.images), "types")
            shares.append([(types == t).sum() / max(len(types), 1) for t in result.type_names])
        shares = np.array(shares)
        y = np.arange(len(result.sets))
        for j, (t, name) in enumerate(result.type_names.items()):
            ax.barh(y, shares[:, j], left=left, color=type_colours[t], edgecolor="black", linewidth=0.5, label=name)
            for i in range(len(result.sets)):
                if shares[i, j] >= 0.06:
                    dark = np.dot(to_rgb(type_colours[t]), (0.299, 0.587, 0.114)) < 0.5
                    ax.text(left[i] + shares[i, j] / 2, i, f"{100 * shares[i, j]:.0f}%", ha="center", va="center",
                            fontsize=8, color="white" if dark else "black")
            left += shares[:, j]
        ax.set_yticks(y, [s.name for s in result.sets])
        ax.invert_yaxis()
        ax.set(xlim=(0, 1), xlabel="share")
        _title(ax, "Nucleus types (share of all nuclei)",
               [f"chi² {r['b']} vs {r['a']}: p {_num(r['chi2']['p'])}" for r in result.pairs])
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=min(len(result.type_names), 4))
    _save(fig, path)


def pick_examples(result: Comparison, count: int) -> list[str]:
    """Up to ``count`` common images spread over the range of count differences (last set minus first),
    both extremes included, so the figure shows typical and most-changed images."""
    names = common_images(result)
    if len(names) <= count:
        return names
    diff = result.sets[-1].counts(names) - result.sets[0].counts(names)
    order = np.argsort(diff, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(names) - 1, count)).astype(int))
    return [names[order[i]] for i in picks]


def draw_examples(result: Comparison, path: str | Path, *, count: int = 4) -> list[str]:
    """examples.png: rows = images, columns = the sets' overlay/{name}.png; returns the images shown."""
    from matplotlib.figure import Figure
    from PIL import Image

    names = pick_examples(result, count)
    cols = len(result.sets)
    fig = Figure(figsize=(3.2 * cols, 3.4 * max(len(names), 1)), dpi=110, layout="constrained")
    axes = np.atleast_2d(fig.subplots(max(len(names), 1), cols, squeeze=False))
    first = result.sets[0]
    for r, name in enumerate(names):
        for c, s in enumerate(result.sets):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            overlay = s.folder / "overlay" / f"{name}.png"
            if overlay.is_file():
                with Image.open(overlay) as im:
                    ax.imshow(np.asarray(im.convert("RGB")), interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "no overlay/", ha="center", va="center", transform=ax.transAxes)
            n = len(s.images[name].areas)
            delta = "" if c == 0 else f" ({n - len(first.images[name].areas):+d})"
            ax.set_title(f"{s.name}: {name}\n{n} nuclei{delta}", fontsize=9)
    fig.suptitle("Same images, each set's contours (in brackets: nuclei minus the first set's)", fontsize=10)
    _save(fig, path)
    return names
