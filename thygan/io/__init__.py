"""Files: checkpoints (safetensors + JSON), reference .pkl import, images, atomic writes."""
