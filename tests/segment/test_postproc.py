"""Post-processing: perfect maps give back the instances; records follow the reference's JSON."""

import cv2
import numpy as np

from tests.segment.conftest import disk_instances
from thygan.segment.postproc import instance_map, instance_records, instance_types
from thygan.segment.stats import instance_stats
from thygan.segment.targets import hv_map


def test_perfect_maps_recover_touching_nuclei():
    rng = np.random.default_rng(0)
    inst = disk_instances(96, [tuple(int(v) for v in rng.integers(10, 86, 2)) for _ in range(10)], radius=7)
    pred = instance_map((inst > 0).astype(np.float32), hv_map(inst, min_size=0))
    s = instance_stats(inst, pred)
    assert s["dq"] > 0.9 and s["pq"] > 0.85  # heavily overlapped disks leave crescents that may merge


def test_two_touching_disks_split():
    inst = disk_instances(48, [(24, 16), (24, 30)], radius=8)   # overlap: one blob of two nuclei
    pred = instance_map((inst > 0).astype(np.float32), hv_map(inst, min_size=0))
    assert len(np.unique(pred)) - 1 == 2
    assert instance_stats(inst, pred)["pq"] > 0.85


def test_empty_and_flat_inputs():
    assert instance_map(np.zeros((32, 32)), np.zeros((2, 32, 32))).max() == 0
    blob = disk_instances(32, [(16, 16)], radius=6) > 0
    assert instance_map(blob.astype(np.float32), np.zeros((2, 32, 32))).max() == 1  # flat HV: one instance


def test_records_match_opencv_and_reference_layout():
    inst = np.zeros((30, 40), np.int32)
    inst[5:12, 8:20] = 3
    inst[20:26, 25:28] = 9
    tp = np.zeros_like(inst)
    tp[5:12, 8:20] = 2
    tp[5:7, 8:20] = 1       # minority
    tp[20:26, 25:28] = 0    # background only: type 0
    rec = instance_records(inst, tp, offset=(100, 1000))
    assert sorted(rec) == [3, 9]
    assert rec[3]["bbox"] == [[105, 1008], [112, 1020]]            # [[rmin, cmin], [rmax, cmax]], end exclusive
    assert rec[3]["centroid"] == [1000 + 13.5, 100 + 8.0]          # [x, y]
    assert rec[3]["type"] == 2 and abs(rec[3]["type_prob"] - 60 / 84) < 1e-9
    assert rec[9]["type"] == 0
    xs, ys = zip(*rec[3]["contour"])
    assert (min(xs), max(xs), min(ys), max(ys)) == (1008, 1019, 105, 111)
    mask = np.zeros((200, 1100), np.uint8)
    cv2.fillPoly(mask, [np.array(rec[3]["contour"])], 1)
    assert mask.sum() == (inst == 3).sum()


def test_type_vote_background_runner_up():
    inst = np.ones((4, 4), np.int32)
    tp = np.zeros((4, 4), np.int64)
    tp[0, 0] = 4
    assert instance_types(inst, tp) == {1: (4, 1 / 16)}
