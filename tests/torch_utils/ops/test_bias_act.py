"""bias_act: golden parity, an elementwise math reimplementation, gradients, clamp, defaults."""

import math

import numpy as np
import pytest
import torch

from tests.torch_utils.ops.conftest import assert_close_rel
from torch_utils.ops.bias_act import activation_funcs, bias_act

ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def _act_scalar(act: str, v: float, alpha: float) -> float:
    """Each activation from its textbook formula, one scalar at a time."""
    if act == "linear":
        return v
    if act == "relu":
        return max(v, 0.0)
    if act == "lrelu":
        return v if v >= 0 else alpha * v
    if act == "tanh":
        return math.tanh(v)
    if act == "sigmoid":
        return 1 / (1 + math.exp(-v))
    if act == "elu":
        return v if v > 0 else alpha * (math.exp(v) - 1)
    if act == "selu":
        return SELU_SCALE * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1))
    if act == "softplus":
        return math.log1p(math.exp(v))
    if act == "swish":
        return v / (1 + math.exp(-v))
    raise AssertionError(act)


def _naive(x: np.ndarray, b: np.ndarray, dim: int, act: str, alpha: float, gain: float, clamp) -> np.ndarray:
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        v = _act_scalar(act, x[idx] + b[idx[dim]], alpha) * gain
        out[idx] = v if clamp is None else min(max(v, -clamp), clamp)
    return out


def test_default_alpha_and_gain_are_the_reference_values():
    gains = {a: activation_funcs[a].def_gain for a in ACTS}
    alphas = {a: activation_funcs[a].def_alpha for a in ACTS}
    assert sorted(activation_funcs) == sorted(ACTS)
    assert {a for a, g in gains.items() if g != 1} == {"relu", "lrelu", "swish"}
    assert gains["relu"] == gains["lrelu"] == gains["swish"] == pytest.approx(math.sqrt(2))
    assert {a: v for a, v in alphas.items() if v != 0} == {"lrelu": 0.2, "elu": 1}


@pytest.mark.parametrize("act", ACTS)
def test_equals_golden(ops_golden, act):
    assert_close_rel(bias_act(ops_golden["x"], ops_golden["bias"], act=act), ops_golden[f"bias_act_{act}"])


def test_equals_golden_with_alpha_gain_clamp(ops_golden):
    out = bias_act(ops_golden["x"], ops_golden["bias"], act="lrelu", alpha=0.1, gain=2, clamp=0.7)
    assert_close_rel(out, ops_golden["bias_act_lrelu_alpha0.1_gain2_clamp0.7"])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dim, shape, clamp", [(1, (2, 3, 2, 2), None), (2, (2, 2, 3), 0.6),
                                               (0, (3, 4), None)])
def test_equals_elementwise_formulas(act, dim, shape, clamp):
    rng = np.random.RandomState(0)
    x, b = rng.randn(*shape) * 2, rng.randn(shape[dim])
    spec = activation_funcs[act]
    ours = bias_act(torch.from_numpy(x), torch.from_numpy(b), dim=dim, act=act, clamp=clamp)
    ref = _naive(x, b, dim, act, spec.def_alpha, spec.def_gain, clamp)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_explicit_alpha_gain_and_negative_dim():
    rng = np.random.RandomState(1)
    x, b = rng.randn(2, 3, 4), rng.randn(4)
    ours = bias_act(torch.from_numpy(x), torch.from_numpy(b), dim=-1, act="elu", alpha=0.5, gain=3)
    np.testing.assert_allclose(ours.numpy(), _naive(x, b, 2, "elu", 0.5, 3, None), rtol=1e-12)


def test_no_bias_and_clamp_after_gain():
    x = torch.tensor([-3.0, -0.5, 0.25, 2.0])
    assert bias_act(x, dim=0, act="relu", gain=2, clamp=1).tolist() == [0.0, 0.0, 0.5, 1.0]
    assert bias_act(x, dim=0, act="linear", clamp=0.5).tolist() == [-0.5, -0.5, 0.25, 0.5]
    assert bias_act(x, dim=0, act="linear", clamp=0).abs().sum() == 0


def _away_from_kinks(shape, seed):
    """Inputs at least 0.1 away from 0, where relu/lrelu/elu/selu have kinks."""
    x = torch.from_numpy(np.random.RandomState(seed).randn(*shape))
    return torch.where(x >= 0, x + 0.1, x - 0.1)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_gradcheck_and_gradgradcheck(act, clamp):
    x = _away_from_kinks([2, 3, 2], seed=2).requires_grad_()
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)  # keeps x + b away from the kinks
    if clamp is not None:  # finite differences must not straddle the clamp boundary
        unclamped = bias_act(x.detach(), b.detach(), act=act).abs()
        assert ((unclamped - clamp).abs() > 1e-3).all()
        assert (unclamped > clamp).any() and (unclamped < clamp).any(), "input should exercise both sides"
    fn = lambda x, b: bias_act(x, b, act=act, clamp=clamp)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("kwargs", [dict(act="gelu"), dict(clamp=-1), dict(impl="cuda"), dict(impl="bogus")])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        bias_act(torch.zeros([2, 3]), torch.zeros(3), **kwargs)


def test_rejects_a_bias_of_the_wrong_length():
    with pytest.raises(ValueError, match="bias"):
        bias_act(torch.zeros([2, 3]), torch.zeros(2))
