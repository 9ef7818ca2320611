"""Improved precision and recall (Kynkaanniemi et al. 2019), as StyleGAN2-ADA's ``pr50k3`` computes it.

Each set is a manifold: the union of balls around its points, each ball reaching the point's k-th
nearest neighbour within the set. Precision is the fraction of generated points inside the real
manifold; recall the fraction of real points inside the generated one. Distances are Euclidean,
computed in row blocks so memory stays O(block * N) instead of O(N^2).
"""

import numpy as np
import torch


def knn_radii(manifold: torch.Tensor, *, nhood_size: int, block_size: int = 10000) -> torch.Tensor:
    """Distance from each point of manifold [N, D] to its ``nhood_size``-th nearest other point: [N].

    The point itself is at distance 0 and ranks first, so the k-th neighbour is the (k+1)-th value.
    """
    if len(manifold) <= nhood_size:
        raise ValueError(f"{len(manifold)} points cannot have {nhood_size} nearest neighbours each")
    radii = [torch.cdist(rows, manifold).kthvalue(nhood_size + 1, dim=1).values
             for rows in manifold.split(block_size)]
    return torch.cat(radii)


def fraction_inside(probes: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, *,
                    block_size: int = 10000) -> float:
    """Fraction of probes [P, D] within ``radii[j]`` of some manifold point j."""
    inside = [(torch.cdist(rows, manifold) <= radii.unsqueeze(0)).any(dim=1)
              for rows in probes.split(block_size)]
    return float(torch.cat(inside).to(torch.float64).mean())


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, *,
                     nhood_size: int = 3,        # k of the k-NN balls (the "3" of pr50k3)
                     block_size: int = 10000,    # rows per distance block
                     device: torch.device | str = "cpu") -> tuple[float, float]:
    """(precision, recall) of fake features [M, D] against real features [N, D]."""
    real = torch.as_tensor(real, dtype=torch.float32, device=device)
    fake = torch.as_tensor(fake, dtype=torch.float32, device=device)
    precision = fraction_inside(fake, real, knn_radii(real, nhood_size=nhood_size, block_size=block_size),
                                block_size=block_size)
    recall = fraction_inside(real, fake, knn_radii(fake, nhood_size=nhood_size, block_size=block_size),
                             block_size=block_size)
    return precision, recall
