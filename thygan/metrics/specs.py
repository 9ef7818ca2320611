"""What a metric name means: which statistic, how many generated images, how many reals.

The reference's names are kept (``fid50k_full``, ``kid50k_full``, ``pr50k3_full``, ``is50k`` and the
legacy ``fid50k``, ``kid50k``, ``pr50k3``); the same grammar with any image count serves small
datasets and CPU runs honestly, the count being part of the name that is logged::

    fid<N>[_full][_perclass]   kid<N>[_full][_perclass]   pr<N>k<K>[_full]   is<N>

``N`` is digits with an optional ``k`` (x1000); for ``pr`` the ``k`` is required so the
neighbourhood size ``K`` can follow. Which reals, as the reference's metric_main.py: every metric
reads the whole dataset, never a training ``--subset`` (``max_size=None``). ``_full`` (and ``is<N>``)
also switch mirroring off (``xflip=False``) and compare against all reals (FID), up to 10^6 (KID) or
2*10^5 (PR); the legacy names without ``_full`` use at most N reals and keep the mirrored copies
when the run (or calc_metrics ``--mirror``) mirrors the dataset.
``_perclass`` (conditional networks) scores N generated images of each class against that class's
reals, and reports every class and their mean.
"""

import re
from dataclasses import dataclass

# Reals used by the reference's *_full metrics (metric_main.py): FID all, KID 1e6, PR 2e5.
FULL_MAX_REAL = {"fid": None, "kid": 1_000_000, "pr": 200_000}

_COUNT = r"(\d+)(k?)"
_PATTERNS = {
    "fid": re.compile(rf"^fid{_COUNT}(_full)?(_perclass)?$"),
    "kid": re.compile(rf"^kid{_COUNT}(_full)?(_perclass)?$"),
    "pr": re.compile(r"^pr(\d+)(k)(\d+)(_full)?$"),
    "is": re.compile(rf"^is{_COUNT}$"),
}
NAME_PATTERNS = ("fid<N>[_full][_perclass]", "kid<N>[_full][_perclass]", "pr<N>k<K>[_full]", "is<N>")


@dataclass(frozen=True)
class MetricSpec:
    """One metric, fully determined by its name."""

    name: str
    kind: str                      # fid | kid | pr | is
    num_gen: int                   # generated images (per class when per_class)
    max_real: int | None = None    # reals used, None = all
    full: bool = False             # a *_full name: reals never mirrored (the reference's xflip=False)
    per_class: bool = False        # class c generated vs class c real, plus the mean over classes
    nhood_size: int = 3            # PR: k of the k-nearest-neighbour balls
    num_splits: int = 10           # IS: parts whose scores give mean and std
    num_subsets: int = 100         # KID: random subset pairs
    max_subset_size: int = 1000    # KID: points per subset

    @property
    def detector(self) -> str:
        """Feature network: 'vgg16' for precision/recall, 'inception' otherwise."""
        return "vgg16" if self.kind == "pr" else "inception"

    @property
    def needs_reals(self) -> bool:
        return self.kind != "is"

    @property
    def mirrored_reals(self) -> bool:
        """Whether the reals include the mirrored copies of a mirrored dataset (legacy metrics only)."""
        return self.needs_reals and not self.full

    def result_keys(self) -> list[str]:
        """Keys of the results dict, as the reference names them (per-class keys come on top)."""
        if self.kind == "pr":
            return [f"{self.name}_precision", f"{self.name}_recall"]
        if self.kind == "is":
            return [f"{self.name}_mean", f"{self.name}_std"]
        return [f"{self.name}_mean"] if self.per_class else [self.name]


def _count(digits: str, thousands: str) -> int:
    return int(digits) * (1000 if thousands else 1)


def parse_metric_name(name: str) -> MetricSpec | None:
    """The spec a name stands for, or None if it follows none of the patterns (or counts zero images)."""
    for kind, pattern in _PATTERNS.items():
        match = pattern.match(name)
        if not match:
            continue
        if kind == "pr":
            num_gen, nhood, full = _count(match.group(1), "k"), int(match.group(3)), bool(match.group(4))
            spec = MetricSpec(name, kind, num_gen, FULL_MAX_REAL["pr"] if full else num_gen, full=full,
                              nhood_size=nhood)
            return spec if num_gen > nhood >= 1 else None
        num_gen = _count(match.group(1), match.group(2))
        if kind == "is":
            return MetricSpec(name, kind, num_gen) if num_gen >= 10 else None
        full, per_class = bool(match.group(3)), bool(match.group(4))
        spec = MetricSpec(name, kind, num_gen, FULL_MAX_REAL[kind] if full else num_gen, full=full,
                          per_class=per_class)
        return spec if num_gen >= 2 else None
    return None
