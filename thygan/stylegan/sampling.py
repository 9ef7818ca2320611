"""Drawing images from a generator: labels, batched synthesis, uint8 conversion.

Image k depends on its seed and class only, never on the batch it was computed in: latents and
noise come from torch_utils.seeding (the reference generate.py's z for each seed).
"""

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from torch_utils.seeding import seed_generators, seed_latents


def class_labels(class_indices: Sequence[int], c_dim: int) -> torch.Tensor:
    """c: [N, c_dim] one-hot float32 ([N, 0] for unconditional networks)."""
    labels = torch.zeros([len(class_indices), c_dim])
    if c_dim > 0:
        labels[torch.arange(len(class_indices)), torch.as_tensor(list(class_indices), dtype=torch.long)] = 1
    return labels


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """img: [N, C, H, W] in [-1, 1] -> [N, H, W, C] uint8, with the reference's rounding (x*127.5+128)."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@torch.no_grad()
def synthesize(G: torch.nn.Module, seeds: Sequence[int], class_idx: int | None, *, truncation_psi: float = 1.0,
               noise_mode: str = "const", batch_size: int = 8,
               device: torch.device | str = "cpu") -> Iterator[tuple[int, np.ndarray]]:
    """Yield (seed, image [H, W, C] uint8) for every seed, computed ``batch_size`` at a time."""
    device = torch.device(device)
    for batch in _batches(list(seeds), batch_size):
        z = seed_latents(batch, G.z_dim).to(device)
        c = class_labels([class_idx or 0] * len(batch), G.c_dim).to(device)
        generators = seed_generators(batch, device) if noise_mode == "random" else None
        img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode, noise_generators=generators)
        yield from zip(batch, to_uint8(img))


@torch.no_grad()
def synthesize_from_ws(G: torch.nn.Module, ws: torch.Tensor, *, noise_mode: str = "const", batch_size: int = 8,
                       device: torch.device | str = "cpu") -> Iterator[np.ndarray]:
    """Yield one uint8 image per row of projected ws: [N, num_ws, w_dim]."""
    device = torch.device(device)
    for start in range(0, ws.shape[0], batch_size):
        img = G.synthesis(ws[start:start + batch_size].to(device), noise_mode=noise_mode)
        yield from to_uint8(img)
