"""The optional torch.compile path of the training step gives the eager step's gradients, phase by phase."""

import copy

import pytest
import torch

from tests.conftest import single_threaded
from tests.stylegan.test_loss import grads, tiny_pair
from thygan.stylegan.loss import LossConfig, StyleGAN2Loss


@pytest.fixture(scope="module")
def compiled_and_eager():
    """Two copies of one tiny G/D pair; the second's loss runs Gmain/Dmain through torch.compile."""
    G, D = tiny_pair()
    config = LossConfig(r1_gamma=1.0, pl_weight=2.0, style_mixing_prob=0.0)
    eager = StyleGAN2Loss(G, D, config=config)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    # aot_eager captures the same graphs inductor compiles (and their autograd), without generating C++.
    compiled = StyleGAN2Loss(G2, D2, config=config, compile_backend="aot_eager")
    return eager, compiled


@pytest.mark.parametrize("phase", ["Gmain", "Greg", "Dmain", "Dreg"])
def test_each_phase_matches_eager(compiled_and_eager, phase):
    eager, compiled = compiled_and_eager
    real = torch.rand(4, 3, 8, 8) * 2 - 1
    c = torch.eye(2)[[0, 1, 1, 0]]
    z = torch.randn(4, eager.G.z_dim)
    results = []
    with single_threaded():
        for loss in (eager, compiled):
            for module in (loss.G, loss.D):
                module.zero_grad(set_to_none=True)
                module.requires_grad_(phase.startswith("G") == (module is loss.G))
            torch.manual_seed(7)  # the synthesis layers draw noise
            stats = loss.accumulate_gradients(phase, real, c, z, c, gain=1.0)
            results.append((stats, grads(loss.G if phase.startswith("G") else loss.D)))
    (stats_a, grads_a), (stats_b, grads_b) = results
    assert stats_a.keys() == stats_b.keys() and grads_a.keys() == grads_b.keys() and grads_a
    for name in stats_a:
        torch.testing.assert_close(stats_a[name], stats_b[name], rtol=1e-5, atol=1e-6, msg=name)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_main_phases_are_compiled_and_regularization_is_not(compiled_and_eager):
    _, compiled = compiled_and_eager
    compiled.D.requires_grad_(True)
    with single_threaded():
        compiled.accumulate_gradients("Dmain", torch.zeros(2, 3, 8, 8), torch.eye(2), torch.randn(2, 8), torch.eye(2),
                                      gain=1.0)
    # mapping, synthesis and D were captured as graphs, not run eagerly
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 3
    assert isinstance(compiled._fast.D, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled._eager.D is compiled.D and compiled._fast.D._orig_mod is compiled.D
