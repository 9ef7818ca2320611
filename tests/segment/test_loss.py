"""The HoVer-Net loss: the reference's gradient kernels and MSGE against hand-worked values and naive loops."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from thygan.errors import UserError
from thygan.segment.loss import hovernet_loss, hv_gradients, msge, sobel_kernels

# kernel_h[y, x] = x / (x^2 + y^2) worked by hand for y (rows), x (columns) in -2..2
KERNEL_H = [[-2 / 8, -1 / 5, 0, 1 / 5, 2 / 8],
            [-2 / 5, -1 / 2, 0, 1 / 2, 2 / 5],
            [-2 / 4, -1 / 1, 0, 1 / 1, 2 / 4],
            [-2 / 5, -1 / 2, 0, 1 / 2, 2 / 5],
            [-2 / 8, -1 / 5, 0, 1 / 5, 2 / 8]]


def test_kernels_match_the_hand_worked_table():
    kernel_h, kernel_v = sobel_kernels(5, dtype=torch.float64)
    np.testing.assert_allclose(kernel_h.numpy(), KERNEL_H, rtol=1e-12)
    np.testing.assert_allclose(kernel_v.numpy(), np.transpose(KERNEL_H), rtol=1e-12)  # y / (x^2 + y^2)


def test_unit_ramp_has_gradient_12_inside_and_none_across():
    """On h = x the interior d/dx is sum x^2 / (x^2 + y^2) over the 5x5 offsets: 4 + 2 * 2.6 + 2 * 1.4 = 12
    (MONAI's normalised kernels give 1); d/dy of v = x is 0. Zero padding shows at the borders."""
    x = torch.arange(9, dtype=torch.float64).expand(9, 9)
    grad = hv_gradients(torch.stack([x, x])[None])[0]
    np.testing.assert_allclose(grad[0, 2:-2, 2:-2].numpy(), 12.0, rtol=1e-12)
    np.testing.assert_allclose(grad[1, 2:-2, 2:-2].numpy(), 0.0, atol=1e-12)
    assert grad[0, 4, 0] != 12.0                                       # left border: zeros padded in


def naive_msge(pred: np.ndarray, true: np.ndarray, focus: np.ndarray) -> float:
    """Per pixel: each map's gradient summed over its 5x5 neighbourhood inside the image (zero outside)."""
    n_img, _, height, width = pred.shape
    total, count = 0.0, 0.0
    for n in range(n_img):
        for c in range(2):
            for i in range(height):
                for j in range(width):
                    if not focus[n, i, j]:
                        continue
                    grads = []
                    for hv in (pred, true):
                        g = 0.0
                        for dy in range(-2, 3):
                            for dx in range(-2, 3):
                                if 0 <= i + dy < height and 0 <= j + dx < width:
                                    along = dx if c == 0 else dy
                                    g += along / (dx * dx + dy * dy + 1e-15) * hv[n, c, i + dy, j + dx]
                        grads.append(g)
                    total += (grads[0] - grads[1]) ** 2
                    count += 1
    return total / (count + 1e-8)


def random_case(seed=0, n=2, size=7, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.rand(n, 2, size, size, generator=gen, dtype=dtype) * 2 - 1
    true = torch.rand(n, 2, size, size, generator=gen, dtype=dtype) * 2 - 1
    focus = (torch.rand(n, size, size, generator=gen) > 0.4).to(dtype)
    return pred, true, focus


def test_msge_matches_a_naive_loop():
    pred, true, focus = random_case()
    got = msge(pred, true, focus).item()
    assert got == pytest.approx(naive_msge(pred.numpy(), true.numpy(), focus.numpy()), rel=1e-10)
    assert msge(pred, true, torch.zeros_like(focus)).item() == 0.0  # no nucleus: nothing to compare


def test_msge_gradcheck_float64():
    pred, true, focus = random_case(seed=1, n=1, size=6)
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: msge(p, true, focus), (pred,))


def one_hot(x, n):
    return F.one_hot(x, n).permute(0, 3, 1, 2).to(torch.float64)


def test_loss_is_the_six_reference_terms_weighted_one():
    """Softmax CE + Dice (smooth 1e-3, pooled over the batch, summed over channels) for NP and TP, HV MSE +
    MSGE: all weight 1, written out independently of MONAI."""
    gen = torch.Generator().manual_seed(2)
    size, nr_types = 8, 3
    np_true = (torch.rand(2, size, size, generator=gen) > 0.5).long()
    tp_true = torch.randint(0, nr_types, (2, size, size), generator=gen) * np_true
    pred = {"nucleus_prediction": torch.randn(2, 2, size, size, generator=gen, dtype=torch.float64),
            "horizontal_vertical": torch.rand(2, 2, size, size, generator=gen, dtype=torch.float64) * 2 - 1,
            "type_prediction": torch.randn(2, nr_types, size, size, generator=gen, dtype=torch.float64)}
    target = {"nucleus_prediction": one_hot(np_true, 2),
              "horizontal_vertical": torch.rand(2, 2, size, size, generator=gen, dtype=torch.float64) * 2 - 1,
              "type_prediction": one_hot(tp_true, nr_types)}

    def ce_dice(logits, labels):
        prob = logits.softmax(1)
        ce = -(labels * prob.log()).sum(1).mean()
        inter, sums = (prob * labels).sum((0, 2, 3)), (prob + labels).sum((0, 2, 3))
        return ce + (1 - (2 * inter + 1e-3) / (sums + 1e-3)).sum()

    hv_p, hv_t = pred["horizontal_vertical"], target["horizontal_vertical"]
    expected = (ce_dice(pred["nucleus_prediction"], target["nucleus_prediction"])
                + ((hv_p - hv_t) ** 2).mean()
                + naive_msge(hv_p.numpy(), hv_t.numpy(), np_true.numpy())
                + ce_dice(pred["type_prediction"], target["type_prediction"]))
    assert hovernet_loss("reference")(pred, target).item() == pytest.approx(expected.item(), rel=1e-9)
    monai = hovernet_loss("monai")(pred, target).item()
    assert abs(monai - expected.item()) > 1e-3                         # MONAI's kernels give another MSGE
    with pytest.raises(UserError, match="--msge-kernel"):
        hovernet_loss("sobel")


def test_options_msge_kernel_default_old_runs_and_bad_value(tmp_path):
    from thygan.segment.training_loop import SegmentOptions

    assert SegmentOptions().msge_kernel == "reference"
    old = {k: v for k, v in json.loads(json.dumps(SegmentOptions().__dict__)).items() if k != "msge_kernel"}
    assert SegmentOptions.from_dict(old).msge_kernel == "monai"        # runs made before the option
    assert SegmentOptions.from_dict({**old, "msge_kernel": "reference"}).msge_kernel == "reference"
    with pytest.raises(UserError, match="--msge-kernel"):
        SegmentOptions(msge_kernel="sobel").resolved()
