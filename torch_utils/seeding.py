"""Per-seed randomness for generators: item k depends on its own seed only, never on its batch.

z follows the reference generate.py (``np.random.RandomState(seed).randn(z_dim)``), so a seed gives
the reference's image; random noise, where asked for, comes from a torch.Generator seeded alike.
"""

from collections.abc import Sequence

import numpy as np
import torch


def seed_latents(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """z: [N, z_dim] float32, row k = RandomState(seeds[k]).randn(z_dim) (the reference's latents)."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()


def seed_generators(seeds: Sequence[int], device: torch.device | str) -> list[torch.Generator]:
    """One torch.Generator per seed on ``device``, seeded by it (per-image noise)."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
