"""image_grid: tiles land where a hand computation puts them; row labels go into a margin, never over a tile."""

import numpy as np
import pytest

from thygan.io.images import image_grid


def tiles(rows=2, cols=3, size=32, channels=3) -> np.ndarray:
    return np.random.RandomState(0).randint(0, 256, (rows, cols, size, size, channels)).astype(np.uint8)


def test_tiles_and_gutters():
    images = tiles()
    grid = image_grid(images, padding=2)
    assert grid.shape == (2 * 32 + 2, 3 * 32 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[34:66, 68:100], images[1, 2])
    assert (grid[32:34] == 255).all() and (grid[:, 32:34] == 255).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_row_labels_fill_a_left_margin_with_one_text_per_row(channels):
    images = tiles(channels=channels)
    plain = image_grid(images)
    labelled = image_grid(images, row_labels=["PTC", "FA+FTC"])
    margin = labelled.shape[1] - plain.shape[1]
    assert margin > 0 and labelled.shape[0] == plain.shape[0] and labelled.shape[2] == channels
    np.testing.assert_array_equal(labelled[:, margin:], plain)  # the tiles are untouched
    ink = labelled[:, :margin, 0] < 128
    rows = [ink[0:32], ink[34:66]]
    assert all(row.sum() > 10 for row in rows)  # each row has its text
    assert not ink[32:34].any()  # nothing in the gutter between rows
    assert rows[0].sum() < rows[1].sum()  # the longer name takes more ink
    wider = image_grid(images, row_labels=["PTC", "PTC+FVPTC+NIFTP"])
    assert wider.shape[1] > labelled.shape[1]  # the margin fits the longest name


def test_row_labels_must_match_the_rows():
    with pytest.raises(ValueError, match="3 texts for 2 rows"):
        image_grid(tiles(), row_labels=["a", "b", "c"])


@pytest.mark.parametrize("row_labels", [None, ["PTC", "FA+FTC"]])
def test_column_titles_fill_a_band_above_with_one_text_per_column(row_labels):
    images = tiles(size=64)
    plain = image_grid(images, row_labels=row_labels)
    titled = image_grid(images, row_labels=row_labels, col_titles=["image", "prediction", "pseudo-labels"])
    band = titled.shape[0] - plain.shape[0]
    assert band > 0 and titled.shape[1] == plain.shape[1]
    np.testing.assert_array_equal(titled[band:], plain)  # the tiles (and row labels) are untouched
    left = plain.shape[1] - (3 * 64 + 2 * 2)
    ink = titled[:band, left:, 0] < 128
    columns = [ink[:, c * 66:c * 66 + 64] for c in range(3)]
    assert all(col.sum() > 10 for col in columns)  # each column has its title, centred over it
    assert not ink[:, 64:66].any() and not ink[:, 130:132].any()  # nothing over the gutters
    assert columns[0].sum() < columns[2].sum()  # the longer title takes more ink
    assert not (titled[:band, :left] < 128).any()  # nothing above the row labels


def test_column_titles_must_match_the_columns():
    with pytest.raises(ValueError, match="2 texts for 3 columns"):
        image_grid(tiles(), col_titles=["a", "b"])
