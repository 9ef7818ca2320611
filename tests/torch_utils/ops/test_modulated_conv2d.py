"""modulated_conv2d: golden parity, a per-sample loop, fused == unfused, gradients, float16."""

import numpy as np
import pytest
import torch

from tests.torch_utils.ops import naive
from tests.torch_utils.ops.conftest import assert_close_rel
from torch_utils.ops.modulated_conv2d import fma, modulated_conv2d
from torch_utils.ops.upfirdn2d import parse_padding, setup_filter


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("case, weight, kwargs", [
    ("modconv_demod", "w3", dict(padding=1)),
    ("modconv_1x1_nodemod", "w1", dict(demodulate=False)),
    ("modconv_up2_demod", "w3", dict(up=2, padding=1, noise=True)),
])
def test_equals_golden(ops_golden, fused, case, weight, kwargs):
    g = ops_golden
    kwargs = dict(kwargs, noise=g["noise"] if kwargs.get("noise") else None)
    out = modulated_conv2d(g["x"], g[weight], g["styles"], resample_filter=g["filter_1331"],
                           fused_modconv=fused, **kwargs)
    assert_close_rel(out, g[f"{case}_{'fused' if fused else 'unfused'}"])


def _random(shape, seed):
    return torch.from_numpy(np.random.RandomState(seed).randn(*shape))


CASES = [
    (3, dict(padding=1)),
    (3, dict(padding=1, demodulate=False)),
    (3, dict(up=2, padding=1, flip_weight=False)),
    (3, dict(down=2, padding=1)),
    (1, dict(demodulate=False)),
    (1, dict(up=2)),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("k, kwargs", CASES)
def test_equals_per_sample_loop(fused, k, kwargs):
    x, w, s = _random([3, 2, 6, 5], 0), _random([4, 2, k, k], 1), _random([3, 2], 2)
    f = setup_filter([1, 3, 3, 1]).double()
    up, down = kwargs.get("up", 1), kwargs.get("down", 1)
    noise = _random([3, 1, 6 * up // down, 5 * up // down], 3)
    ours = modulated_conv2d(x, w, s, noise=noise, resample_filter=f, fused_modconv=fused, **kwargs)
    ref_kwargs = dict(kwargs, padding=parse_padding(kwargs.get("padding", 0)))
    ref = naive.modulated_conv2d(x.numpy(), w.numpy(), s.numpy(), noise=noise.numpy(), f=f.numpy(),
                                 **ref_kwargs)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k, kwargs", CASES)
def test_fused_and_unfused_agree_in_float32(k, kwargs):
    gen = torch.Generator().manual_seed(4)
    x, w = torch.randn([3, 4, 8, 8], generator=gen), torch.randn([5, 4, k, k], generator=gen)
    s = torch.randn([3, 4], generator=gen)
    f = setup_filter([1, 3, 3, 1])
    fused = modulated_conv2d(x, w, s, resample_filter=f, fused_modconv=True, **kwargs)
    unfused = modulated_conv2d(x, w, s, resample_filter=f, fused_modconv=False, **kwargs)
    assert torch.allclose(fused, unfused, rtol=1e-5, atol=1e-5)


def test_demodulation_gives_unit_norm_weights_per_output_channel():
    """With a unit impulse as input, the output is the effective (demodulated) kernel itself."""
    w, s = _random([3, 2, 3, 3], 5), _random([1, 2], 6) * 10
    x = torch.zeros([1, 2, 3, 3], dtype=torch.float64)
    norms = []
    for c in range(2):  # impulse in one input channel at a time recovers that slice of the kernel
        xc = x.clone()
        xc[0, c, 1, 1] = 1
        norms.append(modulated_conv2d(xc, w, s, padding=1).square().sum(dim=[2, 3]))
    total = norms[0] + norms[1]
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def test_float16_prenormalization_avoids_overflow():
    gen = torch.Generator().manual_seed(7)
    x, w = torch.randn([2, 4, 6, 6], generator=gen), torch.randn([5, 4, 3, 3], generator=gen)
    s = torch.randn([2, 4], generator=gen) * 1000  # (w * s)^2 sums overflow float16 without it
    f = setup_filter([1, 3, 3, 1])
    ref = modulated_conv2d(x, w, s, up=2, padding=1, resample_filter=f)
    for fused in (True, False):
        out = modulated_conv2d(x.half(), w.half(), s.half(), up=2, padding=1, resample_filter=f,
                               fused_modconv=fused)
        assert out.dtype == torch.float16
        assert torch.isfinite(out).all()
        assert torch.allclose(out.float(), ref, atol=1e-2 * ref.abs().max().item())


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("demodulate, up", [(True, 1), (False, 1), (True, 2)],
                         ids=["demod", "nodemod", "demod-up2"])
def test_gradcheck_and_gradgradcheck(fused, demodulate, up):
    x, w, s = _random([2, 2, 3, 3], 8), _random([2, 2, 3, 3], 9), _random([2, 2], 10)
    f = setup_filter([1, 3, 3, 1]).double()
    inputs = tuple(t.requires_grad_() for t in (x, w, s))
    fn = lambda x, w, s: modulated_conv2d(  # noqa: E731
        x, w, s, up=up, padding=1, resample_filter=f, demodulate=demodulate, fused_modconv=fused)
    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


def test_fma_broadcasts_and_is_twice_differentiable():
    a, b, c = _random([2, 3, 1], 12), _random([1, 3, 4], 13), _random([4], 14)
    assert torch.allclose(fma(a, b, c), a * b + c)
    inputs = tuple(t.requires_grad_() for t in (a, b, c))
    assert torch.autograd.gradgradcheck(fma, inputs)


@pytest.mark.parametrize("styles_shape, kwargs", [([2, 3], {}), ([3, 4], {}), ([2, 4], dict(impl="bogus"))])
def test_rejects_bad_arguments(styles_shape, kwargs):
    with pytest.raises(ValueError):
        modulated_conv2d(torch.zeros([2, 4, 5, 5]), torch.zeros([3, 4, 3, 3]), torch.zeros(styles_shape),
                         **kwargs)
