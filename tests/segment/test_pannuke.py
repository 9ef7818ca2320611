"""PanNuke masks.npy from inference: writer -> our PanNuke reader round trip, `infer tile --save-pannuke`."""

import numpy as np
import scipy.io
import torch
from PIL import Image

from tests.segment.conftest import TINY, disk_instances, render
from tests.segment.test_cli import assert_user_error, run
from thygan.io.checkpoint import save_checkpoint
from thygan.segment.data import read_dataset
from thygan.segment.infer import write_mat
from thygan.segment.networks import NETWORKS, HoVerNet
from thygan.segment.pannuke import pannuke_masks, write_pannuke
from thygan.segment.postproc import instance_records

CENTRES = [(8, 8), (8, 30), (30, 8), (30, 30), (20, 20), (40, 40)]
TYPES = [1, 2, 3, 4, 5, 0]  # the last nucleus typed background: no PanNuke channel


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b label the same pixel sets (ids may differ), background 0 on both."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return (len(pairs[0]) == len(np.unique(a)) == len(np.unique(b))
            and all((x == 0) == (y == 0) for x, y in pairs.T))


def tiles_with_predictions(root, count=2, size=48):
    """Tiles in root/tiles and, as `infer tile` writes them, root/out/mat/{stem}.mat with types."""
    (root / "tiles").mkdir(parents=True)
    (root / "out" / "mat").mkdir(parents=True)
    truth = []
    for k in range(count):
        centres = [(r + k, c) for r, c in CENTRES]
        inst = disk_instances(size, centres, radius=4)
        tp = np.zeros_like(inst)
        for i, t in enumerate(TYPES, start=1):
            tp[inst == i] = t
        Image.fromarray(render(inst, k)).save(root / "tiles" / f"tile{k}.png")
        write_mat(root / "out" / "mat" / f"tile{k}.mat", inst, instance_records(inst, tp), with_types=True)
        truth.append((inst, tp))
    return sorted((root / "tiles").iterdir()), truth


def test_masks_layout_by_channel():
    inst = disk_instances(48, CENTRES, radius=4)
    masks = pannuke_masks(inst, dict(enumerate(TYPES, start=1)))
    assert masks.shape == (48, 48, 6) and masks.dtype == np.int32
    for c in range(5):                                              # channel c: the nuclei of type c + 1, ids kept
        np.testing.assert_array_equal(np.unique(masks[..., c]), [0, TYPES.index(c + 1) + 1])
    np.testing.assert_array_equal(masks[..., 5], (inst == 0) | (inst == 6))  # background (+ the untyped one)


def test_writer_round_trips_through_our_pannuke_reader(tmp_path):
    paths, truth = tiles_with_predictions(tmp_path)
    folder = write_pannuke(tmp_path / "out", paths)
    assert (folder / "names.txt").read_text().splitlines() == ["tile0", "tile1"]
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "masks.npy", "names.txt"]  # no temp files
    samples = read_dataset(folder, nr_types=6)
    assert len(samples) == 2
    for sample, path, (inst, tp) in zip(samples, paths, truth):
        typed = np.where(tp > 0, inst, 0)                           # the background-typed nucleus is left out
        assert same_partition(sample.inst, typed)
        np.testing.assert_array_equal(sample.types, tp)
        np.testing.assert_array_equal(sample.image, np.asarray(Image.open(path).convert("RGB")))
    result = run(["segment", "stats", "--mode", "pannuke", "--pred-dir", str(folder), "--true-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "mPQ 1.0000" in result.output and "bPQ 1.0000" in result.output


def save_model(path, nr_types):
    torch.manual_seed(0)
    save_checkpoint(path, networks={"net": HoVerNet(nr_types=nr_types, **TINY)}, registry=NETWORKS,
                    extra={"input_size": 128})
    return path.with_suffix(".safetensors")


def infer_args(model, tmp_path):
    return ["segment", "infer", "tile", "--model", str(model), "--input-dir", str(tmp_path / "tiles"),
            "--output-dir", str(tmp_path / "out"), "--device", "cpu", "--save-pannuke"]


def test_infer_tile_save_pannuke_scored_by_stats(tmp_path):
    paths, _ = tiles_with_predictions(tmp_path / "truth")
    truth = write_pannuke(tmp_path / "truth" / "out", paths)
    (tmp_path / "tiles").mkdir()
    for path in paths:
        (tmp_path / "tiles" / path.name).write_bytes(path.read_bytes())
    model = save_model(tmp_path / "model" / "hovernet-snapshot-000001", 6)
    result = run(infer_args(model, tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "pannuke"
    masks = np.load(folder / "masks.npy")
    assert masks.shape == (2, 48, 48, 6)
    for k, name in enumerate((folder / "names.txt").read_text().splitlines()):   # row k is tile k's .mat
        inst = scipy.io.loadmat(tmp_path / "out" / "mat" / f"{name}.mat")["inst_map"]
        assert np.array_equal(masks[k, ..., 5] == 0, np.isin(inst, np.unique(masks[k, ..., :5])[1:]))
    result = run(["segment", "stats", "--mode", "pannuke", "--pred-dir", str(folder), "--true-dir", str(truth)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mPQ ") and "bPQ " in result.output


def test_save_pannuke_refuses_mixed_sizes_and_other_models_before_any_work(tmp_path):
    (tmp_path / "tiles").mkdir()
    for name, size in (("a", 48), ("b", 40)):
        Image.fromarray(render(disk_instances(size, [(20, 20)]))).save(tmp_path / "tiles" / f"{name}.png")
    model = save_model(tmp_path / "model" / "hovernet-snapshot-000001", 6)
    assert_user_error(run(infer_args(model, tmp_path)), "--save-pannuke", "b.png is 40x40", "a.png is 48x48")
    assert not (tmp_path / "out").exists()
    (tmp_path / "tiles" / "b.png").unlink()
    three = save_model(tmp_path / "model3" / "hovernet-snapshot-000001", 3)
    assert_user_error(run(infer_args(three, tmp_path)), "--save-pannuke", "6 types", "has 3")
    assert not (tmp_path / "out").exists()
