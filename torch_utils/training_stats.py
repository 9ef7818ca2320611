"""Per-tick training statistics: running count, mean and standard deviation of named values.

Values stay on their device and are summed into float64 accumulators without host synchronisation;
numbers move to the CPU (and are summed across processes) only when a tick is reported.
"""

import torch

from torch_utils import distributed


class StatsAccumulator:
    """Collects ``add(name, values)`` between ``reduce()`` calls; ``reduce`` returns and resets."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self._moments: dict[str, torch.Tensor] = {}  # name -> [count, sum, sum of squares]

    def add(self, name: str, values: torch.Tensor) -> None:
        values = values.detach().flatten().to(device=self.device, dtype=torch.float64)
        # Non-finite values are left out by masking, not by indexing: a boolean index has a
        # data-dependent size, which the host must read back from the device (a synchronisation).
        finite = torch.isfinite(values)
        values = torch.where(finite, values, torch.zeros_like(values))
        moments = torch.stack([finite.to(torch.float64).sum(), values.sum(), values.square().sum()])
        if name in self._moments:
            self._moments[name] += moments
        else:
            self._moments[name] = moments

    def add_all(self, stats: dict[str, torch.Tensor]) -> None:
        for name, values in stats.items():
            self.add(name, values)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The unreported moments, so a resumed run reports (and adapts) exactly as an unbroken one."""
        return {name: moments.clone() for name, moments in self._moments.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._moments = {name: moments.to(device=self.device, dtype=torch.float64) for name, moments in state.items()}

    def reduce(self) -> dict[str, dict[str, float]]:
        """{name: {"n", "mean", "std"}} over everything added since the last call, on every process."""
        names = sorted(distributed.gather_names(list(self._moments)))
        table = torch.zeros([len(names), 3], dtype=torch.float64, device=self.device)
        for row, name in enumerate(names):
            if name in self._moments:
                table[row] = self._moments[name]
        distributed.all_reduce_sum_(table)
        self._moments.clear()
        result = {}
        for name, (count, total, squares) in zip(names, table.cpu().tolist()):
            mean = total / count if count else float("nan")
            var = max(squares / count - mean**2, 0.0) if count else float("nan")
            result[name] = {"n": int(count), "mean": mean, "std": var**0.5}
        return result
