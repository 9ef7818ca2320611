"""grid_sample: forward equals bilinear sampling, and R1-style double backward w.r.t. the input works."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.torch_utils.ops import naive
from torch_utils.ops.grid_sample_gradfix import grid_sample


def _inputs(seed: int, n=2, c=3, h=5, w=6, ho=4, wo=3):
    rng = np.random.RandomState(seed)
    x = torch.from_numpy(rng.randn(n, c, h, w))
    grid = torch.from_numpy(rng.uniform(-1.2, 1.2, size=[n, ho, wo, 2]))  # some fall outside
    return x, grid


def test_forward_equals_explicit_bilinear_weights_and_torch():
    x, grid = _inputs(0)
    out = grid_sample(x, grid)
    for n in range(x.shape[0]):
        a = naive.bilinear_matrix(grid[n].numpy(), *x.shape[2:])
        ref = (x[n].reshape(x.shape[1], -1).numpy() @ a.T).reshape(x.shape[1], *grid.shape[1:3])
        np.testing.assert_allclose(out[n].numpy(), ref, rtol=1e-12, atol=1e-12)
    plain = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert torch.equal(out, plain)


def test_gradcheck_input_and_grid():
    x, grid = _inputs(1)
    assert torch.autograd.gradcheck(grid_sample, (x.requires_grad_(), grid.requires_grad_()))


def test_gradgradcheck_wrt_input():
    x, grid = _inputs(2)
    assert torch.autograd.gradgradcheck(lambda x: grid_sample(x, grid), (x.requires_grad_(),))


def test_r1_style_second_order_gradient_matches_closed_form():
    """loss = sum(tanh(A x)), penalty = |d loss / dx|^2 = |A^T t'(Ax)|^2; its gradient w.r.t. x is
    2 A^T diag(t''(Ax)) A A^T t'(Ax), computed here with the explicit sampling matrix A."""
    x, grid = _inputs(3, n=1, c=1)
    x.requires_grad_()
    (g,) = torch.autograd.grad(torch.tanh(grid_sample(x, grid)).sum(), x, create_graph=True)
    (r1_grad,) = torch.autograd.grad(g.square().sum(), x)

    a = naive.bilinear_matrix(grid[0].numpy(), *x.shape[2:])
    y = a @ x.detach().numpy().reshape(-1)
    d1 = 1 - np.tanh(y) ** 2
    d2 = -2 * np.tanh(y) * d1
    expected = 2 * a.T @ (d2 * (a @ (a.T @ d1)))
    np.testing.assert_allclose(g.detach().numpy().reshape(-1), a.T @ d1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r1_grad.numpy().reshape(-1), expected, rtol=1e-10, atol=1e-12)


def test_second_order_through_the_grid_is_refused():
    x, grid = _inputs(4)
    grid.requires_grad_()
    (g,) = torch.autograd.grad(grid_sample(x.requires_grad_(), grid).square().sum(), grid, create_graph=True)
    with pytest.raises(NotImplementedError):
        g.sum().backward()


@pytest.mark.parametrize("kwargs, grid_shape", [({}, [2, 4, 3, 3]), ({}, [1, 4, 3, 2]),
                                                (dict(impl="x"), [2, 4, 3, 2])])
def test_rejects_bad_arguments(kwargs, grid_shape):
    with pytest.raises(ValueError):
        grid_sample(torch.zeros([2, 1, 4, 4]), torch.zeros(grid_shape), **kwargs)
