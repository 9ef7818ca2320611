"""Inception Score (Salimans et al. 2016), in StyleGAN2-ADA's form: the images are cut into
``num_splits`` consecutive parts; each part scores exp(E_x KL(p(y|x) || p(y))) with p(y) its own
marginal; the metric is the mean and standard deviation over parts.

Streaming form: within a part, E_x KL = mean_x sum_y p log p - sum_y pbar log pbar, where pbar is the
part's mean prediction. Both terms are running sums, so the [N, 1008] probabilities are never held.
"""

import numpy as np
import torch
from scipy.special import xlogy


class SplitScores:
    """Accumulates IS over ``num_items`` images in ``num_splits`` consecutive parts.

    Args:
        num_items: Images that will be fed, in order (the part boundaries depend on it).
        num_splits: Parts (10 in the reference).
    """

    kind = "splitscores"

    def __init__(self, num_items: int, num_splits: int = 10):
        if num_items < num_splits:
            raise ValueError(f"IS over {num_items} images cannot have {num_splits} splits")
        self.num_items, self.num_splits = int(num_items), int(num_splits)
        # The reference's part r is items [r * N // splits, (r + 1) * N // splits).
        self.bounds = np.array([r * self.num_items // self.num_splits for r in range(self.num_splits + 1)])
        self.count = 0
        self.prob_sums: np.ndarray | None = None           # [splits, K] sum of p(y|x) per part
        self.entropy_sums = np.zeros(self.num_splits)      # sum over x of sum_y p log p, per part

    def update(self, probs: torch.Tensor | np.ndarray) -> None:
        """Add the class probabilities [B, K] of the next B images."""
        if isinstance(probs, torch.Tensor):
            probs = probs.detach().to("cpu", torch.float64).numpy()
        probs = np.asarray(probs, np.float64)
        if self.prob_sums is None:
            self.prob_sums = np.zeros([self.num_splits, probs.shape[1]])
        index = self.count + np.arange(len(probs))
        if len(index) and index[-1] >= self.num_items:
            raise ValueError(f"more than the announced {self.num_items} images were fed")
        part = np.searchsorted(self.bounds, index, side="right") - 1
        np.add.at(self.prob_sums, part, probs)
        np.add.at(self.entropy_sums, part, xlogy(probs, probs).sum(axis=1))
        self.count += len(probs)

    def scores(self) -> np.ndarray:
        """IS of each part [num_splits]."""
        if self.count != self.num_items:
            raise ValueError(f"IS announced {self.num_items} images but got {self.count}")
        sizes = np.diff(self.bounds).astype(np.float64)
        marginal = self.prob_sums / sizes[:, None]
        mean_kl = self.entropy_sums / sizes - xlogy(marginal, marginal).sum(axis=1)
        return np.exp(mean_kl)

    def result(self) -> tuple[float, float]:
        """(mean, std) of the part scores."""
        scores = self.scores()
        return float(scores.mean()), float(scores.std())

    def state(self) -> dict[str, np.ndarray]:
        state = {"count": np.array(self.count), "num_items": np.array(self.num_items),
                 "num_splits": np.array(self.num_splits), "entropy_sums": self.entropy_sums}
        if self.prob_sums is not None:
            state["prob_sums"] = self.prob_sums
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> "SplitScores":
        acc = cls(int(state["num_items"]), int(state["num_splits"]))
        acc.count = int(state["count"])
        acc.entropy_sums = np.asarray(state["entropy_sums"], np.float64)
        if "prob_sums" in state:
            acc.prob_sums = np.asarray(state["prob_sums"], np.float64)
        return acc
