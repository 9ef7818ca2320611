"""The domain-gap figures: scatter plots (2-D, 3-D), the 3-D HTML and the heatmap."""

import re

import numpy as np
from PIL import Image

from thygan.gap.analysis import DomainGapOptions, DomainGapResult
from thygan.gap.embeddings import Embedding
from thygan.viz.gap_plots import (
    STUDY_COLOURS,
    ScatterData,
    draw_domain_gap,
    heatmap_png,
    scatter_html,
    scatter_png,
    set_colours,
)


def blobs(dims: int) -> np.ndarray:
    """[120, dims] float32: two far-apart Gaussian blobs of 60 points (the two sets)."""
    rng = np.random.RandomState(dims)
    return np.concatenate([rng.randn(60, dims), rng.randn(60, dims) + 12]).astype(np.float32)


def scatter_data(coords: np.ndarray) -> ScatterData:
    n = len(coords)
    return ScatterData(coords=coords, set_index=np.repeat([0, 1], n // 2), set_names=["source", "GAN"],
                       colours=set_colours([None, "#123456"]),
                       class_keys=np.array(["PTC", "FA"] * (n // 2)),
                       item_names=np.array([f"i{k}" for k in range(n)]))


def test_scatter_pngs(tmp_path):
    for dims in (2, 3):
        path = tmp_path / f"u{dims}.png"
        scatter_png(scatter_data(blobs(dims)), path, title="t", markers_by_class=dims == 2)
        image = np.asarray(Image.open(path).convert("RGB"))
        assert image.shape[0] > 400 and image.shape[1] > 400
        # The study's first colour (gold, #ffd700) and the requested one are drawn.
        assert ((image == [255, 215, 0]).all(axis=2)).sum() > 50
        assert ((image == [0x12, 0x34, 0x56]).all(axis=2)).sum() > 50
    assert not list(tmp_path.glob(".*.tmp"))


def test_html_is_self_contained(tmp_path):
    path = tmp_path / "u.html"
    scatter_html(scatter_data(blobs(3)), path, title="UMAP", markers_by_class=True)
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=", html)     # no CDN or other external script
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is inlined
    assert '"name":"source"' in html and '"name":"GAN"' in html and '"type":"scatter3d"' in html
    assert "UMAP 3" in html


def test_set_colours_follow_the_study_then_skip_taken_ones():
    assert set_colours([None, None]) == list(STUDY_COLOURS[:2])
    assert set_colours(["gold", None, None]) == ["gold", "orchid", "green"]


def test_heatmap_png(tmp_path):
    matrix = np.array([[np.nan, 1.0], [1.0, np.nan]])
    matrices = {"frechet": matrix * 3, "kid": matrix * 0.1, "domain_acc": matrix * 0.9,
                "knn_overlap": matrix * 0.2}
    heatmap_png(matrices, ["a", "b"], tmp_path / "h.png", title="gap")
    assert Image.open(tmp_path / "h.png").size[0] > 600


def gap_result(*, umap: bool) -> DomainGapResult:
    """Two sets of 60 points (+ their union, which has no UMAP points) and one table row."""
    points = blobs(2)
    sets = [Embedding(name, points[i * 60:(i + 1) * 60], np.zeros(60, np.int64), [f"{name}/{k}" for k in range(60)],
                      ["PTC"], colour) for i, (name, colour) in enumerate([("source", None), ("GAN", "#123456")])]
    union = Embedding("both", points, np.zeros(120, np.int64), [str(k) for k in range(120)], ["PTC"], None)
    row = {"set_a": "source", "set_b": "GAN", "class": "all", "n_a": 60, "n_b": 60, "frechet": 288.0,
           "kid": 3.0, "domain_acc": 1.0, "knn_overlap": 0.0, "domain_acc_low": 0.95, "domain_acc_high": 1.0,
           "domain_dims": 9, "domain_verdict": "separable"}
    return DomainGapResult([*sets, union], [row], ["source", "GAN"], points if umap else None,
                           blobs(3) if umap else None, {})


def test_draw_domain_gap_draws_every_figure_of_a_result(tmp_path):
    result = gap_result(umap=True)
    files = draw_domain_gap(result, tmp_path, opts=DomainGapOptions(extractor="test", markers_by_class=True))
    assert set(files) == {"heatmap", "umap_2d", "umap_3d", "umap_html"} and result.files == files
    for path in files.values():
        assert path.parent == tmp_path and path.stat().st_size > 0
    for dims in (2, 3):
        image = np.asarray(Image.open(files[f"umap_{dims}d"]).convert("RGB"))
        assert ((image == [0x12, 0x34, 0x56]).all(axis=2)).sum() > 50  # GAN's requested colour
    assert '"name":"GAN"' in files["umap_html"].read_text() and not list(tmp_path.glob(".*.tmp"))


def test_draw_domain_gap_without_umap_draws_the_heatmap_only(tmp_path):
    files = draw_domain_gap(gap_result(umap=False), tmp_path)
    assert set(files) == {"heatmap"} and {p.name for p in tmp_path.iterdir()} == {"gap_heatmap.png"}
