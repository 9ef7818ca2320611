"""upfirdn2d and its helpers: golden parity, a naive loop implementation, gradients, semantics."""

import numpy as np
import pytest
import torch

from tests.torch_utils.ops import naive
from tests.torch_utils.ops.conftest import assert_close_rel
from torch_utils.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d


def test_setup_filter_1331_equals_golden(ops_golden):
    assert_close_rel(setup_filter([1, 3, 3, 1]), ops_golden["filter_1331"], rtol=0)


@pytest.mark.parametrize("name, call", [
    ("upsample2d", lambda x, f: upsample2d(x, f)),
    ("downsample2d", lambda x, f: downsample2d(x, f)),
    ("filter2d", lambda x, f: filter2d(x, f)),
    ("upsample2d_pad1", lambda x, f: upsample2d(x, f, padding=1)),
    ("upfirdn2d_up2_down1_pad_1_2_0_3", lambda x, f: upfirdn2d(x, f, up=2, down=1, padding=(1, 2, 0, 3))),
    ("upfirdn2d_flip_gain3", lambda x, f: upfirdn2d(x, f, padding=1, flip_filter=True, gain=3)),
    # The golden entry uses the separable binomial [1, 2, 1] (the only filter/padding that fits it).
    ("upfirdn2d_sep_down2",
     lambda x, f: upfirdn2d(x, setup_filter([1, 2, 1], separable=True), down=2, padding=1)),
])
def test_equals_golden(ops_golden, name, call):
    assert_close_rel(call(ops_golden["x"], ops_golden["filter_1331"]), ops_golden[name])


def _random(shape, seed):
    return torch.from_numpy(np.random.RandomState(seed).randn(*shape))


@pytest.mark.parametrize("up, down, padding, flip, gain, separable", [
    ((1, 1), (1, 1), (0, 0, 0, 0), False, 1, False),
    ((2, 2), (1, 1), (2, 1, 2, 1), False, 4, False),
    ((3, 2), (1, 1), (1, 0, 2, 1), True, 1, False),
    ((1, 1), (2, 2), (1, 1, 1, 1), False, 1, True),
    ((1, 1), (3, 2), (0, 2, 1, 0), True, 2, False),
    ((2, 2), (2, 2), (-1, 2, 3, -2), False, 1, True),
    ((1, 1), (1, 1), (-1, -1, 0, -2), True, 1, False),
])
def test_equals_naive_loops(up, down, padding, flip, gain, separable):
    x = _random([2, 3, 7, 6], seed=1)
    f = _random([4] if separable else [3, 4], seed=2)  # asymmetric, so flipping matters
    ours = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
    ref = naive.upfirdn2d(x.numpy(), f.numpy(), up, down, padding, flip, gain)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_impulse_response_is_the_filter_unflipped_and_flipped_when_asked():
    """Hand-worked: convolving a unit impulse returns the kernel; correlating returns it rotated."""
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = torch.zeros([1, 1, 1, 1])
    x[0, 0, 0, 0] = 1
    conv = upfirdn2d(x, f, padding=1)[0, 0]
    corr = upfirdn2d(x, f, padding=1, flip_filter=True)[0, 0]
    assert conv.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert corr.tolist() == [[4.0, 3.0], [2.0, 1.0]]


def test_flip_filter_equals_flipping_the_taps():
    x, f = _random([1, 2, 6, 5], 3), _random([3, 2], 4)
    flipped = upfirdn2d(x, f, padding=1, flip_filter=True)
    assert torch.allclose(flipped, upfirdn2d(x, f.flip([0, 1]), padding=1))
    assert not torch.allclose(flipped, upfirdn2d(x, f, padding=1))


def test_padding_forms_and_negative_padding_crops():
    x = _random([1, 2, 6, 5], 5)
    assert torch.equal(upfirdn2d(x, None, padding=(-1, -2, -3, 0)), x[:, :, 3:, 1:-2])
    assert torch.equal(upfirdn2d(x, None, padding=2), upfirdn2d(x, None, padding=(2, 2, 2, 2)))
    assert torch.equal(upfirdn2d(x, None, padding=(1, 3)), upfirdn2d(x, None, padding=(1, 1, 3, 3)))
    padded = upfirdn2d(x, None, padding=(1, 0, 0, 2))
    assert padded.shape == (1, 2, 8, 6)
    assert torch.equal(padded[:, :, :6, 1:], x)
    assert padded[:, :, :, 0].abs().sum() == 0 and padded[:, :, 6:].abs().sum() == 0


def test_identity_filter_upsampling_inserts_zeros():
    x = _random([1, 1, 3, 4], 6)
    y = upfirdn2d(x, None, up=(2, 3))
    assert y.shape == (1, 1, 9, 8)
    assert torch.equal(y[:, :, ::3, ::2], x)
    assert y.abs().sum() == pytest.approx(x.abs().sum().item())


@pytest.mark.parametrize("size", [(8, 8), (9, 7)])
def test_helpers_keep_the_documented_sizes(size):
    x = _random([1, 2, *size], 7)
    f = setup_filter([1, 3, 3, 1])
    assert upsample2d(x, f).shape[2:] == (size[0] * 2, size[1] * 2)
    assert downsample2d(x, f).shape[2:] == (size[0] // 2, size[1] // 2)
    assert filter2d(x, f).shape[2:] == size
    assert upsample2d(x, f, padding=(1, 2, 3, 4)).shape[2:] == (size[0] * 2 + 7, size[1] * 2 + 3)


def test_resampling_preserves_a_constant_image_away_from_the_border():
    """The up**2 gain compensates the inserted zeros; a normalized filter keeps DC gain 1."""
    x = torch.ones([1, 1, 8, 8], dtype=torch.float64)
    for f in (setup_filter([1, 3, 3, 1]), setup_filter([1, 3, 3, 1], separable=True)):
        for y in (upsample2d(x, f), downsample2d(x, f), filter2d(x, f)):
            interior = y[:, :, 2:-2, 2:-2]
            assert torch.allclose(interior, torch.ones_like(interior))


def test_setup_filter_shapes_normalization_and_gain():
    taps = [1.0, 2.0, 1.0]
    assert torch.allclose(setup_filter(taps), torch.outer(torch.tensor(taps), torch.tensor(taps)) / 16)
    assert setup_filter(taps, separable=True).shape == (3,)
    assert setup_filter([1] * 8).shape == (8,)  # long 1-D filters default to separable
    assert setup_filter(None).tolist() == [[1.0]]
    assert setup_filter(taps, normalize=False).sum() == 16
    assert torch.allclose(setup_filter(taps, gain=4).sum(), torch.tensor(4.0))
    assert torch.allclose(setup_filter(taps, gain=4, separable=True).sum(), torch.tensor(2.0))
    flipped = setup_filter([[1.0, 2.0]], flip_filter=True, normalize=False)
    assert torch.equal(flipped, torch.tensor([[2.0, 1.0]]))


@pytest.mark.parametrize("kwargs, separable", [
    (dict(up=2, padding=(2, 1, 2, 1)), False),
    (dict(down=2, padding=1), False),
    (dict(padding=(-1, 2, 1, 0)), False),
    (dict(up=2, down=2, padding=1), True),
])
def test_gradcheck_and_gradgradcheck(kwargs, separable):
    x = _random([1, 2, 5, 4], 8).requires_grad_()
    f = _random([3] if separable else [3, 3], 9)
    fn = lambda x: upfirdn2d(x, f, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("kwargs", [dict(up=0), dict(down=(1, 0)), dict(padding=(1, 2, 3)),
                                    dict(impl="cuda")])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        upfirdn2d(torch.zeros([1, 1, 4, 4]), None, **kwargs)
