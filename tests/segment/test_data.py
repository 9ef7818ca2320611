"""Readers of labelled nucleus data: every layout, and one-line errors for bad input."""

import numpy as np
import pytest
import scipy.io
from PIL import Image

from tests.segment.conftest import disk_instances, render
from thygan.errors import UserError
from thygan.segment.data import pannuke_instance_and_types, read_dataset
from thygan.segment.patches import PatchDataset


def consep_folder(root, *, with_types=True, bad=None):
    (root / "Images").mkdir(parents=True)
    (root / "Labels").mkdir()
    inst = disk_instances(64, [(20, 20), (40, 44)])
    types = (inst > 0) * np.array(2)
    Image.fromarray(render(inst)).save(root / "Images" / "a.png")
    mat = {"inst_map": inst, "type_map": types} if with_types else {"inst_map": inst}
    if bad == "no_inst":
        mat = {"type_map": types}
    if bad == "size":
        mat["inst_map"] = inst[:50]
    if bad == "type":
        mat["type_map"] = types * 4
    scipy.io.savemat(root / "Labels" / "a.mat", mat)
    return inst


def test_consep_layout(tmp_path):
    inst = consep_folder(tmp_path)
    [s] = read_dataset(tmp_path, nr_types=5)
    assert s.name == "a" and s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
    np.testing.assert_array_equal(s.inst, inst)
    assert set(np.unique(s.types)) == {0, 2}
    [s] = read_dataset(tmp_path, nr_types=0)
    assert s.types is None


@pytest.mark.parametrize("bad,message", [("no_inst", r"a\.mat: no 'inst_map'"),
                                         ("size", r"a\.mat: mask size 64x50 differs from the image's 64x64"),
                                         ("type", r"a\.mat: unknown type id 8 \(expected 0\.\.4")])
def test_bad_labels_one_line(tmp_path, bad, message):
    consep_folder(tmp_path, bad=bad)
    with pytest.raises(UserError, match=message) as info:
        read_dataset(tmp_path, nr_types=5)
    assert "\n" not in str(info.value)


def test_png_and_npy_instance_maps(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    inst = disk_instances(48, [(10, 10), (30, 30)])
    for name in ("p", "q"):
        Image.fromarray(render(inst)).save(tmp_path / "images" / f"{name}.png")
    Image.fromarray(inst.astype(np.uint16)).save(tmp_path / "labels" / "p.png")
    np.save(tmp_path / "labels" / "q.npy", inst)
    samples = read_dataset(tmp_path)
    assert [s.name for s in samples] == ["p", "q"]
    for s in samples:
        np.testing.assert_array_equal(s.inst, inst)


def test_hover_net_patches(tmp_path):
    inst = disk_instances(40, [(20, 20)])
    patch = np.concatenate([render(inst), inst[..., None], (inst[..., None] > 0) * 3], -1)
    np.save(tmp_path / "consep_1_000.npy", patch)
    [s] = read_dataset(tmp_path, nr_types=5)
    np.testing.assert_array_equal(s.inst, inst)
    assert s.types.max() == 3


def test_pannuke_fold(tmp_path):
    fold = tmp_path / "Fold 1"
    (fold / "images" / "fold1").mkdir(parents=True)
    (fold / "masks" / "fold1").mkdir(parents=True)
    masks = np.zeros((2, 32, 32, 6), np.float64)
    masks[0, 2:6, 2:6, 0] = 7      # neoplastic nucleus
    masks[0, 10:14, 10:14, 1] = 7  # inflammatory nucleus with the same id, other channel
    masks[..., 5] = (masks[..., :5].sum(-1) == 0)
    np.save(fold / "images" / "fold1" / "images.npy", np.full((2, 32, 32, 3), 200.0))
    np.save(fold / "images" / "fold1" / "types.npy", np.array(["Breast", "Colon"]))
    np.save(fold / "masks" / "fold1" / "masks.npy", masks)
    samples = read_dataset(tmp_path, nr_types=6)
    assert len(samples) == 2 and samples[0].tissue == "Breast"
    assert len(np.unique(samples[0].inst)) == 3               # two distinct nuclei
    assert samples[0].types[3, 3] == 1 and samples[0].types[11, 11] == 2
    inst, types = pannuke_instance_and_types(masks[0])
    assert inst[3, 3] != inst[11, 11]


def test_missing_folder(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        read_dataset(tmp_path / "nope")


def test_patch_dataset_deterministic_and_consistent(tile_and_instances):
    from thygan.segment.data import Sample

    image, inst = tile_and_instances
    ds = PatchDataset([Sample("t", image, inst, (inst > 0).astype(np.int32) * 2)], input_size=64, output_size=24,
                      length=3, seed=1)
    a, b = ds[1], ds[1]
    assert all(torch_equal(a[k], b[k]) for k in a)
    assert a["image"].shape == (3, 64, 64) and a["hv"].shape == (2, 24, 24) and a["np"].shape == (24, 24)
    assert (a["tp"] > 0).eq(a["np"] > 0).all()                 # types follow the nuclei through the warp
    assert a["hv"].abs().max() <= 1
    ds.set_epoch(1)
    assert not torch_equal(ds[1]["image"], a["image"])


def torch_equal(x, y):
    return bool((x == y).all())


def test_consep_type_merge(tmp_path):
    from thygan.segment.data import CONSEP_MERGE, parse_type_map

    consep_folder(tmp_path, bad="type")                      # type ids 0 and 8
    with pytest.raises(UserError, match="unknown type id 8"):
        read_dataset(tmp_path, nr_types=5, type_map=parse_type_map("consep"))
    [s] = read_dataset(tmp_path, nr_types=5, type_map=parse_type_map("8=4"))
    assert set(np.unique(s.types)) == {0, 4}
    assert parse_type_map("consep") == CONSEP_MERGE
    with pytest.raises(UserError, match="--type-map"):
        parse_type_map("3->1")
