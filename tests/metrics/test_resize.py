"""The legacy bilinear resize against a per-pixel loop, the reference's grid formulation, a hand example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from thygan.metrics.resize import legacy_bilinear_resize, legacy_bilinear_weights


def naive_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, no half-pixel centres), one output pixel at a time."""
    channels, height, width = image.shape
    out = np.zeros([channels, out_h, out_w])
    for i in range(out_h):
        y = i * height / out_h
        y0 = min(int(np.floor(y)), height - 1)
        y1, dy = min(y0 + 1, height - 1), y - y0
        for j in range(out_w):
            x = j * width / out_w
            x0 = min(int(np.floor(x)), width - 1)
            x1, dx = min(x0 + 1, width - 1), x - x0  # past the last pixel x0 == x1: the border repeats
            top = image[:, y0, x0] * (1 - dx) + image[:, y0, x1] * dx
            bottom = image[:, y1, x0] * (1 - dx) + image[:, y1, x1] * dx
            out[:, i, j] = top * (1 - dy) + bottom * dy
    return out


def reference_grid_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """The NVIDIA detectors' formulation: a shifted affine grid sampled with border padding."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, dtype=torch.float64)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(batch, 1, 1), [batch, channels, size, size],
                         align_corners=False)
    return F.grid_sample(x.double(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_hand_example_two_to_four_pixels():
    # sources 0, 0.5, 1, 1.5 -> a, (a+b)/2, b, b (clamped at the border)
    x = torch.tensor([[[[10.0, 20.0]]]])
    out = legacy_bilinear_resize(x, (1, 4))
    assert out.flatten().tolist() == [10.0, 15.0, 20.0, 20.0]


@pytest.mark.parametrize("size_in, size_out", [(16, 299), (300, 299), (7, 3), (299, 299)])
def test_weight_rows_are_convex_combinations(size_in, size_out):
    weights = legacy_bilinear_weights(size_in, size_out)
    assert weights.shape == (size_out, size_in)
    assert np.allclose(weights.sum(axis=1), 1) and (weights >= 0).all()
    assert ((weights > 0).sum(axis=1) <= 2).all()


@pytest.mark.parametrize("shape, size", [((3, 16, 16), (41, 41)), ((3, 64, 48), (29, 31)),
                                         ((1, 37, 37), (23, 23))])
def test_matches_the_per_pixel_loop(shape, size):
    image = np.random.RandomState(0).uniform(0, 255, shape)
    ours = legacy_bilinear_resize(torch.from_numpy(image)[None], size)[0].numpy()
    np.testing.assert_allclose(ours, naive_resize(image, *size), atol=1e-9)


@pytest.mark.parametrize("size_in", [16, 64, 256, 300])
def test_matches_the_reference_grid_formulation(size_in):
    x = torch.from_numpy(np.random.RandomState(size_in).uniform(0, 255, (2, 3, size_in, size_in)))
    ours = legacy_bilinear_resize(x, (299, 299))
    np.testing.assert_allclose(ours.numpy(), reference_grid_resize(x, 299).numpy(), atol=1e-6)


def test_same_size_is_untouched():
    x = torch.rand(1, 3, 299, 299)
    assert legacy_bilinear_resize(x, (299, 299)) is x
