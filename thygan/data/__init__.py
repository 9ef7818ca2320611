"""Datasets (folder/zip + dataset.json), dataset preparation, tiling, labels and splits."""
