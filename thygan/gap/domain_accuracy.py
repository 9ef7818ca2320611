"""Domain accuracy: can a classifier tell two image sets apart from their features, and how sure is it?

A logistic regression is told to say which set a feature vector came from; its cross-validated
balanced accuracy is 0.5 when it cannot beat chance and 1 when it separates the sets. With few
images this number alone misleads in two ways, and both are handled here:

1. Too many dimensions. n points in general position in more than n - 1 dimensions can always be
   split by a hyperplane, whatever their labels (Cover 1965), so with 16 training images per set
   and 50 principal components the classifier fits noise and scores chance on held-out images even
   for sets that kNN overlap and UMAP show far apart (a user saw 0.45-0.50 where 5 components gave
   0.90-1.00). The components are therefore capped by the sample size: at most one per
   ``images_per_dim`` training images of the smaller set, the events-per-variable rule of logistic
   regression (Peduzzi et al. 1996 ask for 10 per predictor; Vittinghoff & McCulloch 2007 show 5-9
   adequate; 5 is the default here, since only prediction, not the coefficients, is used). PCA sees
   no set labels, so fitting it on all images leaks nothing into the classifier. The classes are
   weighted by inverse set size, so that the fit aims at balanced accuracy, the score reported
   (unweighted, a set 3x the other's size pulls every unclear image to itself and reads 0.5).
2. No error bar. The out-of-fold predictions give, per set, k of n images recognised; balanced
   accuracy is the mean of the two recalls. Its 95 % interval comes from the posterior of that
   mean when each recall has a flat Beta(1, 1) prior, i.e. of the mean of Beta(k_x + 1, n_x - k_x + 1)
   and Beta(k_y + 1, n_y - k_y + 1) (Brodersen et al. 2010, "The balanced accuracy and its posterior
   distribution", ICPR). It is the highest-density (shortest) interval rather than the paper's
   central one, so that a perfect score reads e.g. [0.89, 1.00] and not [0.88, 0.99], which would
   leave out the measured 1.000. Unlike a Wald interval it does not shrink to a point at 0 or 1
   correct. Cross-validated predictions are not independent (the folds share training images), so
   the interval is somewhat narrower than the truth; see the verdict.

The verdict puts the interval into words:

- ``separable``: the interval lies above 0.5 (the classifier beats chance), with at least
  ``MIN_IMAGES`` images per set (below that each fold trains on a handful of images and the
  dependence between folds matters most).
- ``not separable``: the interval covers 0.5 (or lies below it) and stays under ``CLEAR_GAP``, and
  the sets are large enough that even a result exactly at chance would have an interval under
  ``CLEAR_GAP`` (45 images per set when the sizes are equal). The second condition matters:
  a classifier trained on few images is weaker than one trained on many (two 2048-d clusters read
  0.53 with 20 images per set and 0.67 with 600), and cross-validation on small sets often scores
  below chance, whose narrow-looking interval would otherwise pass for "no gap".
- ``n too small to tell``: anything else.
"""

from dataclasses import dataclass

import numpy as np

SEPARABLE = "separable"
NOT_SEPARABLE = "not separable"
TOO_SMALL = "n too small to tell"
CLEAR_GAP = 0.6    # balanced accuracy the interval must stay below for "not separable"
MIN_IMAGES = 10    # images per set below which no verdict is given (also the default class-row minimum)
LEVEL = 0.95       # interval coverage
INTERVAL_BINS = 8192  # grid of each recall's posterior in balanced_accuracy_interval


@dataclass(frozen=True)
class DomainAccuracy:
    """The cross-validated domain classifier's result for one pair of sets."""

    accuracy: float    # balanced accuracy over the out-of-fold predictions (NaN if a set has < 2 images)
    low: float         # lower end of the 95 % interval
    high: float        # upper end
    dims: int          # principal components the classifier saw (0 = the features as they are)
    verdict: str       # SEPARABLE | NOT_SEPARABLE | TOO_SMALL


def principal_components(features: np.ndarray, k: int) -> np.ndarray:
    """features: [N, D] -> scores [N, min(k, N, D)] on the leading principal axes of the standardised data.

    Through whichever Gram matrix is smaller (Z Z^T when N <= D, else Z^T Z), asking LAPACK for the
    top k eigenpairs only, in float32 (ample for classifier inputs): at 1000 x 2048 about 5x faster
    than sklearn's randomized PCA solver.
    """
    import scipy.linalg

    z = np.asarray(features, np.float64)
    std = z.std(axis=0)
    z = ((z - z.mean(axis=0)) / np.where(std > 0, std, 1)).astype(np.float32)
    small = min(z.shape)
    k = min(k, small)
    top = [small - k, small - 1]
    if len(z) <= z.shape[1]:
        eigenvalues, eigenvectors = scipy.linalg.eigh(z @ z.T, subset_by_index=top)
        return eigenvectors[:, ::-1] * np.sqrt(np.clip(eigenvalues[::-1], 0, None))
    _, eigenvectors = scipy.linalg.eigh(z.T @ z, subset_by_index=top)
    return z @ eigenvectors[:, ::-1]


def classifier_dims(n_x: int, n_y: int, *, folds: int, features: int, most: int, images_per_dim: int) -> int:
    """Principal components for the classifier: at most ``most`` (0 = no limit) and one per
    ``images_per_dim`` training images of the smaller set, at least 1; 0 when that keeps every feature."""
    train_smaller = min(n_x, n_y) * (folds - 1) // folds
    dims = max(1, train_smaller // images_per_dim)
    if most > 0:
        dims = min(dims, most)
    return 0 if dims >= features else dims


def balanced_accuracy_interval(correct_x: float, n_x: int, correct_y: float, n_y: int, *,
                               level: float = LEVEL) -> tuple[float, float]:
    """Highest-density ``level`` interval of the posterior of (recall_x + recall_y) / 2 (Brodersen et al. 2010).

    recall_x ~ Beta(correct_x + 1, n_x - correct_x + 1), likewise y, independent. Their mean has no
    closed form: each Beta is discretised into ``INTERVAL_BINS`` bins of exact probability mass (CDF
    differences, so a peaked or J-shaped density loses nothing), and the masses of the sum are their
    convolution. The densest bins holding ``level`` of the mass form the interval: Betas with both
    parameters >= 1 are log-concave, and so is their convolution, so those bins are contiguous.
    Resolution 1 / (2 INTERVAL_BINS), about 6e-5.
    """
    from scipy import signal, special

    edges = np.linspace(0.0, 1.0, INTERVAL_BINS + 1)
    mass_x = np.diff(special.betainc(correct_x + 1, n_x - correct_x + 1, edges))  # Beta CDF differences
    mass_y = np.diff(special.betainc(correct_y + 1, n_y - correct_y + 1, edges))
    # Bins i and j put the sum in [(i + j) h, (i + j + 2) h], centred on (i + j + 1) h.
    mass = np.clip(signal.fftconvolve(mass_x, mass_y), 0.0, None)
    centres = (np.arange(len(mass)) + 1) / INTERVAL_BINS / 2  # of the mean, (A + B) / 2
    densest = np.argsort(mass)[::-1]
    kept = densest[: np.searchsorted(np.cumsum(mass[densest]), level * mass.sum()) + 1]
    return float(centres[kept.min()]), float(centres[kept.max()])


def verdict(low: float, high: float, n_x: int, n_y: int) -> str:
    """Put the interval into words (see the module docstring)."""
    if min(n_x, n_y) < MIN_IMAGES or not np.isfinite(low):
        return TOO_SMALL
    if low > 0.5:
        return SEPARABLE
    _, chance_high = balanced_accuracy_interval(n_x / 2, n_x, n_y / 2, n_y)
    return NOT_SEPARABLE if max(high, chance_high) < CLEAR_GAP else TOO_SMALL


def domain_accuracy(x: np.ndarray, y: np.ndarray, *, folds: int = 5, pca_dim: int = 50, images_per_dim: int = 5,
                    seed: int = 0) -> DomainAccuracy:
    """Cross-validated logistic regression separating x: [N, D] from y: [M, D], with interval and verdict.

    Args:
        x, y: The two sets' features.
        folds: Stratified cross-validation folds (fewer when a set has fewer images).
        pca_dim: Most principal components kept (0 = no limit besides the sample-size cap).
        images_per_dim: Training images of the smaller set per principal component.
        seed: Fold shuffling.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(folds, len(x), len(y))
    if folds < 2:
        return DomainAccuracy(float("nan"), float("nan"), float("nan"), 0, TOO_SMALL)
    features = np.concatenate([x, y]).astype(np.float64)
    dims = classifier_dims(len(x), len(y), folds=folds, features=features.shape[1], most=pca_dim,
                           images_per_dim=images_per_dim)
    if dims:
        features = principal_components(features, dims)
    target = np.concatenate([np.zeros(len(x), int), np.ones(len(y), int)])
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    right = cross_val_predict(model, features, target, cv=splitter) == target
    correct_x, correct_y = int(right[: len(x)].sum()), int(right[len(x):].sum())
    accuracy = (correct_x / len(x) + correct_y / len(y)) / 2
    low, high = balanced_accuracy_interval(correct_x, len(x), correct_y, len(y))
    return DomainAccuracy(accuracy, low, high, dims, verdict(low, high, len(x), len(y)))
