"""HV / NP targets against a pixel-by-pixel loop written from the paper's description."""

import numpy as np
import pytest

from tests.segment.conftest import disk_instances
from thygan.segment.targets import center_crop, hv_map, make_targets, split_disconnected


def naive_hv(inst: np.ndarray, min_size: int = 30, out_size: int | None = None) -> np.ndarray:
    h, w = inst.shape
    out = np.zeros((2, h, w), np.float32)
    crop = center_crop(inst, out_size) if out_size else inst
    for i in sorted(set(inst.ravel()) - {0}):
        if (crop == i).sum() < min_size:
            continue
        pix = [(r, c) for r in range(h) for c in range(w) if inst[r, c] == i]
        com_r = int(sum(r for r, _ in pix) / len(pix) + 0.5)
        com_c = int(sum(c for _, c in pix) / len(pix) + 0.5)
        for axis, values in ((0, [c - com_c for _, c in pix]), (1, [r - com_r for r, _ in pix])):
            neg = min(values)
            pos = max(values)
            for (r, c), v in zip(pix, values):
                out[axis, r, c] = v / -neg if v < 0 else (v / pos if v > 0 else 0.0)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_hv_equals_naive_loop(seed):
    rng = np.random.default_rng(seed)
    centers = [tuple(int(v) for v in rng.integers(4, 44, 2)) for _ in range(6)]
    inst = disk_instances(48, centers, radius=int(rng.integers(3, 7)))
    inst[0:3, 0:2] = 99                              # a 6 px instance: no HV target
    np.testing.assert_allclose(hv_map(inst), naive_hv(inst), atol=1e-6)


def test_hv_by_hand():
    inst = np.zeros((5, 7), np.int32)
    inst[1:4, 1:6] = 1                               # 3 x 5 box, centre (2, 3)
    hv = hv_map(inst, min_size=1)
    np.testing.assert_allclose(hv[0, 2, 1:6], [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(hv[1, 1:4, 3], [-1, 0, 1])
    assert hv[:, 0].sum() == 0 and hv[:, :, 0].sum() == 0


def test_small_in_crop_rule_and_disconnected_pieces():
    inst = np.zeros((40, 40), np.int32)
    inst[0:8, 0:8] = 1          # 64 px, but only 4 px fall inside the 16 px centre crop (rows/cols 12..27)
    inst[10:14, 10:14] = 1
    inst[20:28, 20:28] = 2      # fully inside
    pieces = split_disconnected(inst)
    assert len(np.unique(pieces)) == 4                # id 1 had two separate pieces
    hv = hv_map(inst, out_size=16)
    assert np.abs(hv[:, 0:8, 0:8]).sum() == 0         # piece with 0 px in the crop
    assert np.abs(hv[:, 20:28, 20:28]).sum() > 0
    np.testing.assert_allclose(hv, naive_hv(pieces, out_size=16), atol=1e-6)


def test_make_targets_crop_and_types():
    inst = disk_instances(40, [(20, 20), (5, 5)])
    types = (inst > 0) * 3
    t = make_targets(inst, 16, types)
    assert t["np"].shape == (16, 16) and t["hv"].shape == (2, 16, 16) and t["tp"].shape == (16, 16)
    np.testing.assert_array_equal(t["np"], center_crop(inst > 0, 16))
    assert set(np.unique(t["tp"])) == {0, 3}
