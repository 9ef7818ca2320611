"""Datasets (folder/zip + dataset.json), dataset preparation, tiling, splits and training-data recipes."""
