"""UMAP projections (one shared fit of two far-apart blobs, the umap_blobs fixture)."""

import numpy as np

from thygan.gap.umap_fit import fit_umap


def test_umap_shapes_and_separation(umap_blobs):
    features, coords = umap_blobs
    for dims in (2, 3):
        assert coords[dims].shape == (120, dims) and coords[dims].dtype == np.float32
        assert np.isfinite(coords[dims]).all()
        # Two blobs 12 standard deviations apart stay apart: every point is nearer its own blob's centre.
        centre_a, centre_b = coords[dims][:60].mean(0), coords[dims][60:].mean(0)
        distance_a = np.linalg.norm(coords[dims] - centre_a, axis=1)
        nearer_a = distance_a < np.linalg.norm(coords[dims] - centre_b, axis=1)
        assert nearer_a[:60].all() and not nearer_a[60:].any()


def test_umap_is_deterministic_for_a_seed(umap_blobs):
    features, coords = umap_blobs
    np.testing.assert_array_equal(fit_umap(features, n_components=2, n_epochs=30), coords[2])
    assert not np.array_equal(fit_umap(features, n_components=2, n_epochs=30, seed=7), coords[2])
