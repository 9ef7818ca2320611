"""How far apart two sets of features are: four numbers with different blind spots.

- Frechet distance (FID when the features are Inception's): distance of Gaussians fitted to each
  set; 0 for equal means and covariances. Covariances divide by N as StyleGAN2-ADA's FID does.
- KID (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel; about 0 for samples of
  one distribution (it can go slightly negative), no Gaussian assumption.
- Domain accuracy: cross-validated balanced accuracy of a logistic regression told to say which
  set a feature vector came from; 0.5 = chance, 1 = separable. Balanced accuracy keeps 0.5 as
  chance when the sets differ in size. With few images the dimensions are capped by the sample
  size, and a 95 % interval and a verdict (separable / not separable / n too small to tell) come
  with it: ``thygan.gap.domain_accuracy``.
- kNN overlap: for every point, the share of its k nearest neighbours (in the union) that belong
  to the other set, averaged per set and then over the two sets. About 0.5 when the sets are mixed
  (exactly n / (2 (n - 1)) in expectation for n points, whatever the split), 0 when separated.

FID and KID come from ``thygan.metrics`` (the metric engineer's implementations); only the Frechet
trace term has a fast path here for sets with fewer points than feature dimensions.
"""

from dataclasses import dataclass

import numpy as np

from thygan.gap.domain_accuracy import domain_accuracy
from thygan.metrics.fid import frechet_distance as frechet_from_stats
from thygan.metrics.kid import kernel_inception_distance

GAP_MEASURES = ("frechet", "kid", "domain_acc", "knn_overlap")
DOMAIN_DETAILS = ("domain_acc_low", "domain_acc_high", "domain_dims", "domain_verdict")  # beside domain_acc


@dataclass(frozen=True)
class GapOptions:
    """Settings of the measures (defaults follow the references where there is one)."""

    kid_subsets: int = 100         # KID: random subset pairs averaged (StyleGAN2-ADA: 100)
    kid_subset_size: int = 1000    # KID: points per subset, at most (StyleGAN2-ADA: 1000)
    folds: int = 5                 # domain classifier: stratified cross-validation folds
    pca_dim: int = 50              # domain classifier: most principal components kept (0 = no limit)
    images_per_dim: int = 5        # domain classifier: training images of the smaller set per component
    neighbours: int = 10           # kNN overlap: k
    seed: int = 0                  # subset draws and fold shuffling


def mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: [N, D] -> mean [D], covariance [D, D] (divided by N, as FID does), float64."""
    x = np.asarray(x, np.float64)
    centred = x - x.mean(axis=0)
    return x.mean(axis=0), centred.T @ centred / len(x)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to x: [N, D] and y: [M, D].

    With min(N, M) <= D the covariances have rank < D and tr (S1 S2)^(1/2) is the nuclear norm of
    X^T Y / sqrt(N M) for the centred data matrices (S1 S2 = X^T X Y^T Y / (N M) shares its nonzero
    eigenvalues with (X^T Y)(X^T Y)^T / (N M)), an N x M problem that never forms a D x D matrix
    (about 50x faster at 500 x 2048). Otherwise thygan.metrics.fid computes it from mean and covariance.
    """
    if min(len(x), len(y)) > x.shape[1]:
        return frechet_from_stats(*mean_cov(x), *mean_cov(y))
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    trace_sqrt = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / np.sqrt(len(x) * len(y))
    traces = np.square(xc).sum() / len(x) + np.square(yc).sum() / len(y)
    return float(np.square(x.mean(axis=0) - y.mean(axis=0)).sum() + traces - 2 * trace_sqrt)


def kid(x: np.ndarray, y: np.ndarray, *, opts: GapOptions = GapOptions()) -> float:
    """KID of x: [N, D] and y: [M, D] (thygan.metrics.kid). When both sets fit in one subset every
    draw is the whole of both sets, so one draw gives the exact value the average would."""
    whole = len(x) == len(y) <= opts.kid_subset_size
    return kernel_inception_distance(x, y, num_subsets=1 if whole else opts.kid_subsets,
                                     max_subset_size=opts.kid_subset_size, seed=opts.seed)


def knn_overlap(x: np.ndarray, y: np.ndarray, *, opts: GapOptions = GapOptions()) -> float:
    """Mean share of each point's k nearest neighbours from the other set (see the module docstring)."""
    from sklearn.neighbors import NearestNeighbors

    features = np.concatenate([x, y]).astype(np.float32)
    k = min(opts.neighbours, len(features) - 1)
    if k < 1:
        return float("nan")
    in_y = np.concatenate([np.zeros(len(x), bool), np.ones(len(y), bool)])
    # kneighbors() without a query leaves each point out of its own neighbours, duplicates included.
    neighbours = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(return_distance=False)
    other = in_y[neighbours] != in_y[:, None]
    share = other.mean(axis=1)
    return float((share[~in_y].mean() + share[in_y].mean()) / 2)


def gap_measures(x: np.ndarray, y: np.ndarray, *, opts: GapOptions = GapOptions()) -> dict[str, float | str]:
    """GAP_MEASURES and DOMAIN_DETAILS for one pair of feature sets (NaN where a set is too small)."""
    domain = domain_accuracy(x, y, folds=opts.folds, pca_dim=opts.pca_dim, images_per_dim=opts.images_per_dim,
                             seed=opts.seed)
    details = {"domain_acc_low": domain.low, "domain_acc_high": domain.high, "domain_dims": domain.dims,
               "domain_verdict": domain.verdict}
    if min(len(x), len(y)) < 2:
        return {**{name: float("nan") for name in GAP_MEASURES}, **details}
    return {"frechet": frechet_distance(x, y), "kid": kid(x, y, opts=opts), "domain_acc": domain.accuracy,
            "knn_overlap": knn_overlap(x, y, opts=opts), **details}
