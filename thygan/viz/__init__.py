"""Pictures: image grids, plots, UMAP domain-gap figures."""
