"""segment compare figures: which examples are shown, and both figure layouts (typed and untyped) drawn."""

import numpy as np
from PIL import Image

from tests.segment.test_compare import blocks, write_output
from thygan.segment.compare import compare_sets, read_set
from thygan.viz.segment_compare import draw_compare, draw_examples, pick_examples


def sets_with_counts(tmp_path, first, second, typed=True):
    out = []
    for name, counts in (("A", first), ("B", second)):
        images = {f"im{k}": (blocks(32, [(3 * i, 0, 3 * i + 2, 2) for i in range(n)]),
                             {i + 1: (1 if typed else None) for i in range(n)}) for k, n in enumerate(counts)}
        out.append(read_set(name, write_output(tmp_path / name, images)))
    return compare_sets(out)


def test_examples_span_the_count_changes(tmp_path):
    # differences B - A: im0 +0, im1 +3, im2 -1, im3 +1, im4 +2 -> sorted im2, im0, im3, im4, im1
    result = sets_with_counts(tmp_path, [1, 1, 2, 1, 1], [1, 4, 1, 2, 3])
    assert pick_examples(result, 3) == ["im2", "im3", "im1"]       # smallest, middle, largest change
    assert pick_examples(result, 9) == ["im0", "im1", "im2", "im3", "im4"]


def test_figures_typed_and_untyped(tmp_path):
    for typed in (True, False):
        result = sets_with_counts(tmp_path / str(typed), [0, 2, 1], [1, 3, 0], typed=typed)
        assert bool(result.type_names) is typed
        draw_compare(result, tmp_path / f"compare_{typed}.png")
        shown = draw_examples(result, tmp_path / f"examples_{typed}.png", count=2)
        assert len(shown) == 2
        with Image.open(tmp_path / f"compare_{typed}.png") as im:
            wide = im.size
        assert wide[0] > wide[1] > 200
        with Image.open(tmp_path / f"examples_{typed}.png") as im:
            assert np.asarray(im).std() > 0


def test_scatter_draws_one_marker_per_point_sized_by_its_images(tmp_path, monkeypatch):
    import matplotlib.axes

    drawn = []
    original = matplotlib.axes.Axes.scatter

    def record(self, x, y, *args, **kwargs):
        drawn.append((np.asarray(x), np.asarray(y), np.asarray(kwargs["s"])))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", record)
    # 40 images (a scatter, not bars): 35 go 0 -> 1 nucleus, 5 go 1 -> 2
    result = sets_with_counts(tmp_path, [0] * 35 + [1] * 5, [1] * 35 + [2] * 5, typed=False)
    draw_compare(result, tmp_path / "compare.png")
    (x, y, sizes), = drawn
    points = {(int(a), int(b)): float(s) for a, b, s in zip(x, y, sizes)}
    assert set(points) == {(0, 1), (1, 2)}
    assert points[(0, 1)] > 5 * points[(1, 2)]   # 35 images against 5
