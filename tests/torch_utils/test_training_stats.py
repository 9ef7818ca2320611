"""StatsAccumulator: moments over finite values, accumulated on the device without host syncs."""

import math

import pytest
import torch

from tests.torch_utils.host_sync import no_host_sync
from torch_utils.training_stats import StatsAccumulator


def test_non_finite_values_are_left_out():
    stats = StatsAccumulator()
    stats.add("a", torch.tensor([1.0, float("nan"), 3.0, float("inf")]))
    stats.add("a", torch.tensor([[-float("inf")], [2.0]]))  # any shape, accumulated into the same name
    stats.add("b", torch.tensor([float("nan")]))
    result = stats.reduce()
    assert result["a"]["n"] == 3
    assert result["a"]["mean"] == pytest.approx(2.0)
    assert result["a"]["std"] == pytest.approx(math.sqrt(2 / 3))
    assert result["b"]["n"] == 0 and math.isnan(result["b"]["mean"])
    assert stats.reduce() == {}  # reduce resets


def test_add_never_waits_for_the_device():
    stats = StatsAccumulator("meta")  # meta tensors stand in for GPU ones (see tests/torch_utils/host_sync.py)
    with no_host_sync():
        stats.add("Loss/signs/real", torch.zeros(8, 1, device="meta"))
        stats.add_all({"Loss/signs/real": torch.zeros(8, device="meta"), "Loss/G/loss": torch.zeros(4, device="meta")})
    assert {name: m.shape for name, m in stats.state_dict().items()} == {"Loss/signs/real": (3,), "Loss/G/loss": (3,)}
