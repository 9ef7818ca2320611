"""Torch-generic, model-agnostic support: ops, distributed helpers, training statistics."""
