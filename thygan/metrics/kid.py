"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs"), as StyleGAN2-ADA
computes it: the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged
over ``num_subsets`` random subsets of ``m = min(N_real, N_fake, max_subset_size)`` points of each set.
"""

import numpy as np


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples [m, D] under the cubic polynomial kernel.

    Diagonal terms k(x_i, x_i) are left out of the within-set means (that is what makes it unbiased).
    """
    m = len(x)
    within = _polynomial_kernel(x, x) + _polynomial_kernel(y, y)
    between = _polynomial_kernel(x, y)
    return float((within.sum() - np.trace(within)) / (m * (m - 1)) - 2 * between.sum() / (m * m))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *,
                              num_subsets: int = 100,        # random subset pairs averaged
                              max_subset_size: int = 1000,   # points per subset, at most
                              seed: int = 0) -> float:       # subset draws
    """KID between feature sets real: [N, D] and fake: [M, D]."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 feature vectors per set, got {len(real)} real and "
                         f"{len(fake)} fake")
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        total += mmd2_unbiased(x, y)
    return total / num_subsets
