"""Accumulators that a feature pass feeds batch by batch: running mean/covariance (FID) and a capped
feature bank (KID, precision/recall).

``MeanCov`` never holds the features: it merges each batch's mean and centred scatter matrix in
float64 with Chan et al.'s pairwise update ("Updating Formulae and a Pairwise Algorithm for Computing
Sample Variances", 1979), which stays accurate where the textbook ``E[x x^T] - mu mu^T`` loses digits
when the mean is large against the spread. Memory is O(D^2) whatever the number of images.

Every accumulator has ``count`` (items consumed), ``update(x)``, ``state()`` -> dict of numpy arrays and
``from_state(state)``, so a pass can be checkpointed, resumed and cached as one ``.npz``.
"""

import numpy as np
import torch


def _as_float64(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


class MeanCov:
    """Running mean and covariance of feature rows [N, D], in float64."""

    kind = "meancov"

    def __init__(self):
        self.count = 0
        self.mean: np.ndarray | None = None  # [D]
        self.m2: np.ndarray | None = None    # [D, D] sum of outer products of deviations from the mean

    def update(self, x: torch.Tensor | np.ndarray) -> None:
        """Add a batch x: [B, D]."""
        x = _as_float64(x)
        if len(x) == 0:
            return
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_m2 = centred.T @ centred
        if self.count == 0:
            self.count, self.mean, self.m2 = len(x), batch_mean, batch_m2
            return
        total = self.count + len(x)
        delta = batch_mean - self.mean
        self.m2 = self.m2 + batch_m2 + np.outer(delta, delta) * (self.count * len(x) / total)
        self.mean = self.mean + delta * (len(x) / total)
        self.count = total

    def cov(self, *, ddof: int = 0) -> np.ndarray:
        """Covariance [D, D]. ddof=0 (divide by N) is what StyleGAN2-ADA's FID uses."""
        if self.count - ddof <= 0:
            raise ValueError(f"covariance of {self.count} feature vector(s) with ddof={ddof} is undefined")
        return self.m2 / (self.count - ddof)

    def state(self) -> dict[str, np.ndarray]:
        if self.count == 0:
            return {"count": np.array(0)}
        return {"count": np.array(self.count), "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> "MeanCov":
        acc = cls()
        acc.count = int(state["count"])
        if acc.count:
            acc.mean, acc.m2 = np.asarray(state["mean"], np.float64), np.asarray(state["m2"], np.float64)
        return acc


class FeatureBank:
    """Keeps the first ``max_items`` feature rows (float32), for metrics that need the points themselves.

    Args:
        max_items: Rows to keep; later rows are dropped.
    """

    kind = "bank"

    def __init__(self, max_items: int):
        self.max_items = int(max_items)
        self._chunks: list[np.ndarray] = []
        self.count = 0

    def update(self, x: torch.Tensor | np.ndarray) -> None:
        if isinstance(x, torch.Tensor):
            x = x.detach().to("cpu", torch.float32).numpy()
        take = max(min(len(x), self.max_items - self.count), 0)
        if take:
            self._chunks.append(np.array(x[:take], dtype=np.float32))
            self.count += take

    @property
    def full(self) -> bool:
        return self.count >= self.max_items

    def features(self) -> np.ndarray:
        """The kept rows [count, D] float32."""
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros([0, 0], np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"count": np.array(self.count), "max_items": np.array(self.max_items),
                "features": self.features()}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> "FeatureBank":
        bank = cls(int(state["max_items"]))
        features = np.asarray(state["features"], np.float32)
        if len(features):
            bank._chunks, bank.count = [features], len(features)
        return bank
