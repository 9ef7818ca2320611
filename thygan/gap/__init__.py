"""The domain gap between image sets: sets, feature extractors, embeddings, measures, the gap table, UMAP.

Computation only; the figures of a run are drawn by ``thygan.viz.gap_plots``.
"""
