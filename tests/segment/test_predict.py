"""Tiled prediction: the reference's stitching at overlap 0, blended overlaps against a hand computation, and
seams measured against one window over the whole image."""

import numpy as np
import pytest
import torch

from tests.segment.conftest import TINY
from thygan.errors import UserError
from thygan.segment.networks import HoVerNet
from thygan.segment.predict import (
    SIGMA,
    near_window_edges,
    predict_maps,
    resolve_overlap,
    window_count,
    window_starts,
)

S_IN, S_OUT = 128, 36  # TINY's geometry
MARGIN = (S_IN - S_OUT) // 2


def _window_outputs(net: HoVerNet, padded: np.ndarray, corners: list[tuple[int, int]]) -> list[dict]:
    """Probabilities of each window, one forward each: {'np': [S, S], 'hv': [2, S, S], 'tp': [T, S, S]}."""
    outs = []
    for r, c in corners:
        x = torch.from_numpy(padded[r:r + S_IN, c:c + S_IN].copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            out = net(x)
        outs.append({"np": torch.softmax(out["np"], 1)[0, 1].numpy(), "hv": out["hv"][0].numpy(),
                     "tp": torch.softmax(out["tp"], 1)[0].numpy()})
    return outs


def _typed_prediction(image: np.ndarray, seed: int, **options):
    """A seeded tiny network with a type branch, and its tiled maps of ``image``."""
    torch.manual_seed(seed)
    net = HoVerNet(nr_types=3, **TINY).eval()
    return net, predict_maps(net, image, input_size=S_IN, output_size=S_OUT, batch_size=3, **options)


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_overlap_zero_places_each_window_output(tile_and_instances, blend):
    """The reference's tiling: every output pixel is the centre output of the one window around it."""
    image = tile_and_instances[0][:64, :60]
    net, maps = _typed_prediction(image, 0, blend=blend)
    assert maps.np_prob.shape == (64, 60) and maps.tp.shape == (64, 60)
    padded = np.pad(image, ((MARGIN, MARGIN + 8), (MARGIN, MARGIN + 12), (0, 0)), mode="reflect")
    corners = [(r, c) for r in (0, 36) for c in (0, 36)]
    for (r, c), want in zip(corners, _window_outputs(net, padded, corners)):
        h, w = min(36, 64 - r), min(36, 60 - c)
        np.testing.assert_allclose(maps.np_prob[r:r + h, c:c + w], want["np"][:h, :w], atol=1e-4)
        np.testing.assert_allclose(maps.hv[:, r:r + h, c:c + w], want["hv"][:, :h, :w], atol=1e-4)
        np.testing.assert_allclose(maps.tp_prob[:, r:r + h, c:c + w], want["tp"][:, :h, :w], atol=1e-4)


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
def test_overlapping_windows_are_weighted_means(tile_and_instances, blend):
    """overlap 12 (step 24): each pixel is the weighted mean of the windows covering it, summed by hand."""
    image = tile_and_instances[0][:60, :56]
    net, maps = _typed_prediction(image, 1, overlap=12, blend=blend)
    starts = [0, 24]  # 36 < 56 < 60 = 24 + 36: two windows per side
    assert window_starts(60, S_OUT, 12) == starts and window_starts(56, S_OUT, 12) == starts
    covered = starts[-1] + S_OUT
    padded = np.pad(image, ((MARGIN, MARGIN + covered - 60), (MARGIN, MARGIN + covered - 56), (0, 0)),
                    mode="reflect")
    centre = np.arange(S_OUT) - (S_OUT - 1) / 2
    taper = np.exp(-centre ** 2 / (2 * (SIGMA * S_OUT) ** 2))
    # MONAI floors its Gaussian at 1e-3 (never reached at this size); constant blending weighs 1 everywhere
    weight = np.maximum(np.outer(taper, taper), 1e-3) if blend == "gaussian" else np.ones((S_OUT, S_OUT))
    total = {"np": np.zeros((covered, covered)), "hv": np.zeros((2, covered, covered)),
             "tp": np.zeros((3, covered, covered))}
    weights = np.zeros((covered, covered))
    corners = [(r, c) for r in starts for c in starts]
    for (r, c), out in zip(corners, _window_outputs(net, padded, corners)):
        for key in total:
            total[key][..., r:r + S_OUT, c:c + S_OUT] += out[key] * weight
        weights[r:r + S_OUT, c:c + S_OUT] += weight
    np.testing.assert_allclose(maps.np_prob, (total["np"] / weights)[:60, :56], atol=1e-4)
    np.testing.assert_allclose(maps.hv, (total["hv"] / weights)[:, :60, :56], atol=1e-4)
    np.testing.assert_allclose(maps.tp_prob, (total["tp"] / weights)[:, :60, :56], atol=1e-4)
    assert (maps.tp == maps.tp_prob.argmax(0)).all()


def test_auto_overlap_removes_the_seams(tile_and_instances):
    """Against one window over the whole image (no seam; it starts 16 px = two strides before the tiles), the
    reference's tiling (step 36, alternating between two subsampling grids) differs most along window edges;
    'auto' (step 16: one grid, Gaussian blending) differs less next to window edges than the reference's
    tiling does away from them."""
    image, _ = tile_and_instances
    size, extra = 76, 16  # 76 + 92 + 2 * 16 = 200: a valid single-window input
    image = image[:size, :size]
    torch.manual_seed(1)
    net = HoVerNet(**TINY).eval()
    padded = np.pad(image, ((MARGIN + extra,) * 2, (MARGIN + extra,) * 2, (0, 0)), mode="reflect")
    with torch.no_grad():
        out = net(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)
    core = (0, slice(None), slice(extra, extra + size), slice(extra, extra + size))
    whole = {"np": torch.softmax(out["np"], 1)[core][1].numpy(), "hv": out["hv"][core].numpy()}
    frame = np.zeros((size, size), bool)
    frame[8:-8, 8:-8] = True  # leave out the image border: its context is reflection either way
    band, inside = {}, {}
    for overlap in (0, "auto"):
        maps = predict_maps(net, image, input_size=S_IN, output_size=S_OUT, overlap=overlap)
        near = near_window_edges(size, size, S_OUT, resolve_overlap(overlap, "gaussian", S_OUT), 4)
        for key, got in (("np", maps.np_prob), ("hv", maps.hv)):
            diff = np.abs(got - whole[key]).reshape(-1, size, size).mean(0)
            band[overlap, key], inside[overlap, key] = diff[near & frame].mean(), diff[~near & frame].mean()
    for key in ("np", "hv"):
        assert band[0, key] > 1.5 * inside[0, key], (key, band, inside)  # the reference's tiling has seams
        assert band["auto", key] < inside[0, key] and band["auto", key] < band[0, key] / 5, (key, band, inside)


def test_window_grid_and_overlap_options():
    assert window_starts(36, 36) == [0] and window_starts(37, 36) == [0, 36] and window_starts(20, 36) == [0]
    for length in (1, 35, 36, 37, 100, 164, 2304):
        for overlap in (0, 4, 20):
            starts = window_starts(length, 36, overlap)
            assert starts[-1] + 36 >= length and (len(starts) == 1 or starts[-2] + 36 < length)
            assert np.diff(starts).tolist() == [36 - overlap] * (len(starts) - 1)
    assert window_count(100, 37, 36, 4) == 3 * 2
    # 'auto': at least 16 px, step a multiple of the network's stride of 8
    assert resolve_overlap("auto", "gaussian", 164) == 20 and resolve_overlap("auto", "gaussian", 80) == 16
    assert resolve_overlap(7, "constant", 36) == 7 and resolve_overlap(np.int64(7), "constant", 36) == 7
    for bad in (36, -1, 2.5, True, "some"):
        with pytest.raises(UserError, match="--overlap"):
            resolve_overlap(bad, "gaussian", 36)
    with pytest.raises(UserError, match="--blend"):
        resolve_overlap(0, "mean", 36)


def test_any_image_size():
    net = HoVerNet(**TINY).eval()
    maps = predict_maps(net, np.full((50, 83, 3), 128, np.uint8), input_size=S_IN, output_size=S_OUT,
                        overlap="auto")
    assert maps.np_prob.shape == (50, 83) and maps.hv.shape == (2, 50, 83) and maps.tp is None
    assert np.isfinite(maps.np_prob).all() and np.isfinite(maps.hv).all()
