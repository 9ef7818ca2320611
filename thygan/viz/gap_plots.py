"""Domain-gap figures: UMAP scatter plots (PNG, and an interactive 3-D HTML) and the gap heatmap.

``draw_domain_gap`` draws every figure of a ``thygan.gap.analysis.DomainGapResult``; the numbers
come from ``thygan.gap``, nothing here computes them.

Colours follow the thyroid study's DG_Visualization notebook for the first four sets (gold =
source, orchid = Nikiforov, green = TCGA, royalblue = GAN-generated, in that order), then
matplotlib's tab10. Figures are drawn on ``matplotlib.figure.Figure`` without pyplot, so no global
backend is touched (a notebook's inline plots keep working), and saved atomically.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thygan.gap.analysis import DomainGapOptions, DomainGapResult
from thygan.gap.measures import GAP_MEASURES
from thygan.gap.table import HEADINGS, domain_notes, format_value, gap_matrix
from thygan.io.atomic import atomic_path

STUDY_COLOURS = ("gold", "orchid", "green", "royalblue")
MPL_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")
PLOTLY_SYMBOLS = ("circle", "diamond", "square", "cross", "x", "circle-open", "diamond-open", "square-open")
# Per measure: colour map oriented so that darker = larger gap, and its value range (None = data).
HEATMAP_STYLE = {"frechet": ("YlOrRd", None), "kid": ("YlOrRd", None), "domain_acc": ("YlOrRd", (0.5, 1.0)),
                 "knn_overlap": ("YlOrRd_r", (0.0, 0.5))}


@dataclass
class ScatterData:
    """Points of a UMAP plot.

    Attributes:
        coords: [N, 2] or [N, 3].
        set_index: [N] int, index into ``set_names``.
        set_names: Legend names, one per set.
        colours: One colour per set.
        class_keys: [N] str, class of each point ('' = unlabelled); used for markers and hover text.
        item_names: [N] str, shown on hover in the HTML.
    """

    coords: np.ndarray
    set_index: np.ndarray
    set_names: list[str]
    colours: list[str]
    class_keys: np.ndarray
    item_names: np.ndarray


def set_colours(requested: Sequence[str | None]) -> list[str]:
    """One colour per set: the requested one (checked by thygan.gap.image_sets), else the next unused
    palette colour."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = list(STUDY_COLOURS) + [to_hex(c) for c in colormaps["tab10"].colors]
    palette = [c for c in palette if c not in requested]
    return [colour if colour is not None else palette.pop(0) for colour in requested]


def _save_figure(fig, path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=fig.dpi, bbox_inches="tight")


def _marker_table(class_keys: np.ndarray, symbols: Sequence[str]) -> dict[str, str]:
    keys = sorted(set(class_keys.tolist()) - {""})
    return {"": symbols[0], **{key: symbols[i % len(symbols)] for i, key in enumerate(keys)}}


def scatter_png(data: ScatterData, path, *, title: str, markers_by_class: bool = False,
                seed: int = 0) -> None:
    """Write a 2-D or 3-D scatter plot, one colour per set (and a marker per class if asked)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    dims = data.coords.shape[1]
    fig = Figure(figsize=(10, 8), dpi=120)
    ax = fig.add_subplot(projection="3d" if dims == 3 else None)
    size = float(np.clip(20000 / max(len(data.coords), 1), 2, 30))
    colours = np.array(data.colours)[data.set_index]
    # Points are drawn in a fixed shuffled order so that no set is buried under the sets drawn after it.
    order = np.random.RandomState(seed).permutation(len(data.coords))
    markers = _marker_table(data.class_keys, MPL_MARKERS) if markers_by_class else None
    for marker in sorted(set(markers.values())) if markers else [None]:
        keep = order if marker is None else order[np.isin(data.class_keys[order],
                                                           [k for k, m in markers.items() if m == marker])]
        ax.scatter(*data.coords[keep].T, c=colours[keep], s=size, alpha=0.75, linewidths=0,
                   marker=marker or "o")
    handles = [Line2D([], [], ls="", marker="o", color=c, label=n)
               for n, c in zip(data.set_names, data.colours, strict=True)]
    if markers:
        handles += [Line2D([], [], ls="", marker=m, color="0.3", label=k) for k, m in markers.items() if k]
    ax.legend(handles=handles, loc="best", fontsize=9, markerscale=1.5)
    for axis, label in zip("xyz"[:dims], ("UMAP 1", "UMAP 2", "UMAP 3")[:dims], strict=True):
        getattr(ax, f"set_{axis}label")(label)
    ax.set_title(title)
    _save_figure(fig, path)


def scatter_html(data: ScatterData, path, *, title: str, markers_by_class: bool = False) -> None:
    """Write an interactive 3-D scatter (plotly, its JavaScript inlined: opens offline, no server).

    Layout as the study's notebook: 1200 x 1000 px, marker size 2, one legend entry per set (click to
    hide a set), hover shows the set, class and image name.
    """
    import plotly.graph_objects as go

    symbols = _marker_table(data.class_keys, PLOTLY_SYMBOLS) if markers_by_class else None
    fig = go.Figure()
    for index, (name, colour) in enumerate(zip(data.set_names, data.colours, strict=True)):
        keep = data.set_index == index
        hover = [f"{name}<br>{cls or 'unlabelled'}<br>{item}"
                 for cls, item in zip(data.class_keys[keep], data.item_names[keep], strict=True)]
        marker = {"size": 2, "color": colour}
        if symbols:
            marker["symbol"] = [symbols[cls] for cls in data.class_keys[keep]]
        x, y, z = data.coords[keep].T
        fig.add_trace(go.Scatter3d(x=x, y=y, z=z, mode="markers", name=name, marker=marker, hovertext=hover,
                                   hoverinfo="text"))
    fig.update_layout(title=title, width=1200, height=1000, legend={"itemsizing": "constant"},
                      scene={"xaxis_title": "UMAP 1", "yaxis_title": "UMAP 2", "zaxis_title": "UMAP 3"})
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        fig.write_html(f, include_plotlyjs=True, full_html=True)


def _data_range(matrix: np.ndarray) -> tuple[float, float]:
    """Colour range over the values shown, so that pairs differ visibly even when all distances are
    large (Frechet distances of small samples in 2048-d all carry a large estimation bias)."""
    finite = matrix[np.isfinite(matrix)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low = min(0.0, low)
    return low, high if high > low else low + 1.0


def _text_colour(image, value: float) -> str:
    """White on dark cells, black on light ones (Rec. 709 luma of the cell colour)."""
    if not np.isfinite(value):
        return "black"
    red, green, blue, _ = image.cmap(image.norm(value))
    return "white" if 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5 else "black"


def heatmap_png(matrices: dict[str, np.ndarray], names: Sequence[str], path, *, title: str,
                notes: dict[str, np.ndarray] | None = None) -> None:
    """One panel per gap measure: an [S, S] matrix over the sets, values written in the cells (with a
    smaller line of ``notes[measure][i, j]`` text under them, e.g. the domain accuracy's interval)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    count = len(names)
    side = 1.5 + 0.8 * count
    fig = Figure(figsize=(side * len(GAP_MEASURES), side + 0.6), dpi=120, layout="constrained")
    for ax, measure in zip(fig.subplots(1, len(GAP_MEASURES), squeeze=False)[0], GAP_MEASURES, strict=True):
        cmap, value_range = HEATMAP_STYLE[measure]
        matrix = matrices[measure]
        vmin, vmax = value_range or _data_range(matrix)
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colormaps[cmap].with_extremes(bad="0.9"),
                          vmin=vmin, vmax=vmax)
        note = (notes or {}).get(measure)
        for i in range(count):
            for j in range(count):
                value = float(matrix[i, j])
                colour = _text_colour(image, value)
                ax.text(j, i, format_value(value, measure), ha="center", va="bottom" if note is not None else "center",
                        fontsize=8, color=colour)
                if note is not None and note[i, j]:
                    ax.text(j, i + 0.05, note[i, j], ha="center", va="top", fontsize=6, color=colour)
        ax.set_xticks(range(count), names, rotation=45, ha="right")
        ax.set_yticks(range(count), names)
        ax.set_title(HEADINGS[measure])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    _save_figure(fig, path)


def draw_domain_gap(result: DomainGapResult, outdir: str | Path, *,
                    opts: DomainGapOptions | None = None) -> dict[str, Path]:
    """Draw the heatmap (and, when the result has UMAP coordinates, the scatter plots and 3-D HTML).

    Adds the files to ``result.files`` and returns them: gap_heatmap.png, umap_2d.png, umap_3d.png,
    umap_3d.html in ``outdir``. ``opts`` gives the extractor name for the titles and the marker choice.
    """
    opts = opts or DomainGapOptions()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    files = {"heatmap": outdir / "gap_heatmap.png"}
    names = [e.name for e in result.embeddings]
    heatmap_png({m: gap_matrix(result.rows, names, m) for m in GAP_MEASURES}, names, files["heatmap"],
                title=f"Domain gap ({opts.extractor} features, all images; domain acc. with its 95 % interval)",
                notes={"domain_acc": domain_notes(result.rows, names)})
    if result.coords_2d is not None:
        sets = result.embeddings[:len(result.set_names)]
        base = dict(set_index=np.repeat(np.arange(len(sets)), [len(e) for e in sets]),
                    set_names=result.set_names, colours=set_colours([e.color for e in sets]),
                    class_keys=np.concatenate([e.class_keys() for e in sets]),
                    item_names=np.array([item for e in sets for item in e.item_names], dtype=str))
        title = f"UMAP of {opts.extractor} features"
        for dims, coords in ((2, result.coords_2d), (3, result.coords_3d)):
            files[f"umap_{dims}d"] = outdir / f"umap_{dims}d.png"
            scatter_png(ScatterData(coords, **base), files[f"umap_{dims}d"], title=f"{title} ({dims}-D)",
                        markers_by_class=opts.markers_by_class)
        files["umap_html"] = outdir / "umap_3d.html"
        scatter_html(ScatterData(result.coords_3d, **base), files["umap_html"], title=f"{title} (3-D)",
                     markers_by_class=opts.markers_by_class)
    result.files.update(files)
    return files
