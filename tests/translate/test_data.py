"""Data modes, preprocessing and the bad-input messages."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.translate.conftest import write_images
from thygan.errors import UserError
from thygan.translate.data import Preprocess, TranslationDataset, to_tensor

CROP = Preprocess(preprocess="crop", crop_size=16)


def test_unaligned_length_sides_and_range(unaligned_root):
    ds = TranslationDataset(unaligned_root, preprocess=CROP)
    assert len(ds) == 4  # max(|A|, |B|)
    item = ds[3]
    assert item["A"].shape == (3, 16, 16) and item["B"].shape == (3, 16, 16)
    assert item["A"].min() >= -1 and item["A"].max() <= 1
    assert item["A_name"] == "003.png" and item["B_name"] in {"000.png", "001.png", "002.png"}
    serial = TranslationDataset(unaligned_root, preprocess=CROP, serial_batches=True)
    assert serial[3]["B_name"] == "000.png"  # 3 mod 3


def test_items_depend_on_seed_epoch_and_index_only(unaligned_root):
    ds = TranslationDataset(unaligned_root, preprocess=CROP, seed=5)
    first = [ds[i]["A"] for i in (2, 0, 1)]
    again = TranslationDataset(unaligned_root, preprocess=CROP, seed=5)
    assert all(torch.equal(a, again[i]["A"]) for a, i in zip(first, (2, 0, 1)))
    again.set_epoch(1)
    assert not all(torch.equal(ds[i]["A"], again[i]["A"]) for i in range(4))


def test_aligned_split_and_shared_crop(tmp_path):
    root = tmp_path / "al"
    (root / "train").mkdir(parents=True)
    a = np.zeros((32, 32, 3), np.uint8)
    a[:, :, 0] = np.arange(32)[None, :] * 4  # a horizontal ramp: the crop position is visible
    Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / "train" / "p.png")
    ds = TranslationDataset(root, dataset_mode="aligned", preprocess=Preprocess(preprocess="crop", crop_size=16))
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[0]
        # B = 255 - A pixel for pixel, so A and B got the same crop and the same flip.
        assert torch.allclose(item["A"][0] + item["B"][0], torch.zeros(16, 16), atol=1e-6)
    swapped = TranslationDataset(root, dataset_mode="aligned", direction="BtoA", preprocess=CROP)
    assert float(swapped[0]["A"][0].mean()) > float(swapped[0]["B"][0].mean())


def test_aligned_width_not_twice_height_is_one_line_error(aligned_root):
    Image.fromarray(np.zeros((32, 50, 3), np.uint8)).save(aligned_root / "train" / "zz_bad.png")
    with pytest.raises(UserError, match=r"zz_bad.png: an aligned image .* width = 2 x height; got 50x32") as err:
        TranslationDataset(aligned_root, dataset_mode="aligned", preprocess=CROP)
    assert "\n" not in str(err.value)


def test_paired_folders_match_by_name(paired_root):
    ds = TranslationDataset(paired_root, dataset_mode="paired", preprocess=CROP)
    assert len(ds) == 3 and ds[1]["A_name"] == ds[1]["B_name"] == "001.png"
    write_images(paired_root / "A", 1, names=["lonely.png"])
    with pytest.raises(UserError, match="lonely.png has no partner"):
        TranslationDataset(paired_root, dataset_mode="paired", preprocess=CROP)


def test_unaligned_without_trainB_is_one_line_error(tmp_path):
    write_images(tmp_path / "d" / "trainA", 2)
    with pytest.raises(UserError, match=r"no folder .*trainB \(--dataset_mode unaligned expects trainA/ and trainB/\)"):
        TranslationDataset(tmp_path / "d")


@pytest.mark.parametrize("mode,shape", [("resize_and_crop", (3, 16, 16)), ("scale_width", (3, 18, 20)),
                                        ("scale_width_and_crop", (3, 16, 16)), ("none", (3, 36, 40))])
def test_preprocess_modes(unaligned_root, mode, shape):
    pre = Preprocess(preprocess=mode, load_size=20, crop_size=16)
    assert TranslationDataset(unaligned_root, preprocess=pre)[0]["A"].shape == shape


def test_flip_and_tensor_convention():
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    flipped = Preprocess(preprocess="none").apply(np.tile(img, (2, 2, 1)), {"x": 0, "y": 0, "flip": True})
    assert np.array_equal(flipped, np.tile(img, (2, 2, 1))[:, ::-1])
    t = to_tensor(np.array([[[0, 255, 51]]], np.uint8), 3)
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 1.0, 51 / 127.5 - 1]))
