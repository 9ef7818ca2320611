"""conv2d_resample: golden parity, the naive pad-conv-filter-decimate definition, gradients."""

import numpy as np
import pytest
import torch

from tests.torch_utils.ops import naive
from tests.torch_utils.ops.conftest import assert_close_rel
from torch_utils.ops.conv2d_resample import conv2d_resample
from torch_utils.ops.upfirdn2d import parse_padding, setup_filter


@pytest.mark.parametrize("name, weight, kwargs", [
    ("conv_up2_w3", "w3", dict(up=2, padding=1)),
    ("conv_down2_w3", "w3", dict(down=2, padding=1)),
    ("conv_down2_w1", "w1", dict(down=2)),
    ("conv_w3_pad1", "w3", dict(padding=1)),
])
def test_equals_golden(ops_golden, name, weight, kwargs):
    out = conv2d_resample(ops_golden["x"], ops_golden[weight], f=ops_golden["filter_1331"], **kwargs)
    assert_close_rel(out, ops_golden[name])


def _random(shape, seed):
    return torch.from_numpy(np.random.RandomState(seed).randn(*shape))


@pytest.mark.parametrize("k, kwargs", [
    (3, dict(up=2, padding=1)),                          # transposed-conv path
    (3, dict(up=2, padding=1, flip_weight=False)),       # as the synthesis network calls it
    (1, dict(up=2)),                                     # 1x1: conv, then upsample
    (3, dict(down=2, padding=1)),                        # filter, then strided conv
    (1, dict(down=2)),                                   # 1x1: downsample, then conv
    (3, dict(padding=1)),                                # plain conv
    (3, dict(padding=(0, 2, 1, 1), flip_weight=False)),  # asymmetric padding
    (3, dict(padding=(2, -1, 1, 0))),                    # negative padding crops
    (3, dict(up=2, down=2, padding=1)),                  # up and down together
    (3, dict(up=2, padding=1, groups=2)),                # grouped transposed conv
    (3, dict(down=2, padding=(1, 0, 2, 1), groups=2, flip_filter=True)),
])
def test_equals_naive_definition(k, kwargs):
    groups = kwargs.get("groups", 1)
    x = _random([2, 2 * groups, 7, 6], seed=0)
    w = _random([3 * groups, 2, k, k], seed=1)
    f = _random([4, 3], seed=2)  # asymmetric and of uneven size: exercises flips and padding splits
    ours = conv2d_resample(x, w, f=f, **kwargs)
    ref_kwargs = dict(kwargs, padding=parse_padding(kwargs.get("padding", 0)))
    ref = naive.conv2d_resample(x.numpy(), w.numpy(), f.numpy(), **ref_kwargs)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size", [(8, 8), (9, 7)])
def test_same_padding_gives_in_times_up_over_down(size):
    x, f = torch.randn([1, 2, *size]), setup_filter([1, 3, 3, 1])
    w3 = torch.randn([4, 2, 3, 3])
    assert conv2d_resample(x, w3, f, up=2, padding=1).shape[2:] == (size[0] * 2, size[1] * 2)
    assert conv2d_resample(x, w3, f, down=2, padding=1).shape[2:] == (size[0] // 2, size[1] // 2)


@pytest.mark.parametrize("kwargs", [dict(up=2, padding=1), dict(down=2, padding=1),
                                    dict(up=2, flip_weight=False)])
def test_gradcheck_and_gradgradcheck(kwargs):
    x = _random([1, 2, 4, 4], 3).requires_grad_()
    w = _random([2, 2, 3, 3], 4).requires_grad_()
    f = torch.from_numpy(naive.filter_2d(np.array([1.0, 3.0, 3.0, 1.0]) / 8))
    fn = lambda x, w: conv2d_resample(x, w, f=f, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


@pytest.mark.parametrize("kwargs", [dict(up=0), dict(down=1.5), dict(groups=3), dict(impl="bogus")])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        conv2d_resample(torch.zeros([1, 4, 6, 6]), torch.zeros([2, 4, 3, 3]), **kwargs)
