"""Summaries over cross-validation folds: the mean with its 95% t-interval, and the paired test of a recipe
against the baseline trained on the same folds (``thygan dlc-cv`` and ``thygan segment-cv`` tables).

Both use the t-distribution with n - 1 degrees of freedom over the n folds (folds are few, 3-10, so the
normal approximation would be too narrow). The paired test compares per-fold differences, recipe minus
baseline, of models that saw the same training and test images: the fold-to-fold spread common to both
cancels, which a comparison of two independent intervals would not exploit. The p-value is
``scipy.stats.ttest_rel`` (two-sided); the interval of the mean difference is
mean +- t(0.975, n-1) sd / sqrt(n). Folds share training images, so the folds' differences are not
independent and the test is optimistic (Nadeau & Bengio 2003); the tables say so.
"""

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


def _half_width(sd: float, n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n))


def mean_interval(values: list[float]) -> tuple[float, float, float | None, float | None]:
    """(mean, sample sd, low, high) of the 95% t-interval of the mean; sd/interval need 2+ values."""
    array = np.asarray(values, np.float64)
    mean = float(array.mean())
    if array.size < 2:
        return mean, 0.0, None, None
    sd = float(array.std(ddof=1))
    half = _half_width(sd, array.size)
    return mean, sd, mean - half, mean + half


def score_interval(values: list[float]) -> tuple[float, float, float | None, float | None]:
    """``mean_interval`` of scores that live in [0, 1] (accuracies, PQ, Dice), the interval clipped to [0, 1]."""
    mean, sd, low, high = mean_interval(values)
    return (mean, sd, None, None) if low is None else (mean, sd, max(low, 0.0), min(high, 1.0))


@dataclass(frozen=True)
class PairedTest:
    """Recipe minus baseline over the folds both have a value for. Fields are None when n < 2."""

    n: int                        # folds paired
    mean_diff: float | None       # mean of the per-fold differences
    low: float | None             # 95% t-interval of the mean difference
    high: float | None
    p: float | None               # two-sided paired t-test; None when n < 2 or every difference is equal

    def text(self, *, scale: float = 1.0, digits: int = 2) -> str:
        """'+1.23 [-0.50, 2.96], p 0.210, n 5' (values times ``scale``), or 'n/a (n 1)'."""
        if self.mean_diff is None:
            return f"n/a (n {self.n})"
        p = "n/a" if self.p is None else f"{self.p:.3f}"
        return (f"{scale * self.mean_diff:+.{digits}f} [{scale * self.low:.{digits}f}, "
                f"{scale * self.high:.{digits}f}], p {p}, n {self.n}")

    def columns(self, prefix: str) -> dict[str, float | int | None]:
        """The numbers for a CSV row: {prefix}_diff, _diff_low, _diff_high, _p, _n."""
        return {f"{prefix}_diff": self.mean_diff, f"{prefix}_diff_low": self.low,
                f"{prefix}_diff_high": self.high, f"{prefix}_p": self.p, f"{prefix}_n": self.n}


def _usable(value) -> bool:
    return value is not None and math.isfinite(value)


def paired_test(values: dict[int, float | None], baseline: dict[int, float | None]) -> PairedTest:
    """Paired t-test of ``values`` against ``baseline``, both fold -> metric, over the folds where both are
    finite (a fold missing on one side is left out, not imputed)."""
    from scipy.stats import ttest_rel

    folds = sorted(k for k in set(values) & set(baseline) if _usable(values[k]) and _usable(baseline[k]))
    if len(folds) < 2:
        return PairedTest(len(folds), None, None, None, None)
    a = np.array([values[k] for k in folds], np.float64)
    b = np.array([baseline[k] for k in folds], np.float64)
    diff = a - b
    sd = float(diff.std(ddof=1))
    mean = float(diff.mean())
    half = _half_width(sd, len(folds))
    p = None
    if sd > 0:  # equal differences: the t statistic is undefined (scipy warns and returns NaN)
        p = float(ttest_rel(a, b).pvalue)
    return PairedTest(len(folds), mean, mean - half, mean + half, p)


BASELINE = "none"  # the recipe every other one is compared with: real images only


def paired_against_baseline(groups: dict[tuple[str, str], list[dict]], recipe: str, set_name: str, key: str, *,
                            baseline: str = BASELINE) -> PairedTest:
    """The paired test of one metric of a (recipe, evaluation set) against the baseline on the same set.

    Args:
        groups: (recipe, set) -> its per-fold rows, each with ``"fold"`` and the metric ``key``.
        recipe, set_name: The row group to test; the baseline itself (or a set without it) gives n = 0.
    """
    if recipe == baseline or (baseline, set_name) not in groups:
        return PairedTest(0, None, None, None, None)
    values = {row["fold"]: row.get(key) for row in groups[(recipe, set_name)]}
    return paired_test(values, {row["fold"]: row.get(key) for row in groups[(baseline, set_name)]})
