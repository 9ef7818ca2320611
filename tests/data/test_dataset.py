"""ImageFolderDataset: pixels, labels, subsets and mirroring against datasets written independently."""

import io
import json
import pickle
import zipfile

import numpy as np
import PIL.Image
import pytest
import torch

from tests.data.conftest import png_bytes, random_images, write_image, write_layout
from thygan.data import image_files
from thygan.data.dataset import ImageFolderDataset
from thygan.errors import UserError


@pytest.mark.parametrize("as_zip", [False, True])
def test_reads_pixels_and_onehot_labels(labelled_layout, as_zip):
    path, images, labels = labelled_layout(as_zip)
    ds = ImageFolderDataset(path, use_labels=True)
    assert len(ds) == 6 and ds.resolution == 8 and ds.num_channels == 3 and ds.name == "ds"
    assert ds.label_dim == 3 and ds.has_labels and ds.has_onehot_labels and ds.class_names is None
    for idx in range(6):
        image, label = ds[idx]
        assert image.dtype == np.uint8 and image.shape == (3, 8, 8)
        np.testing.assert_array_equal(image, images[idx].transpose(2, 0, 1))
        np.testing.assert_array_equal(label, np.eye(3, dtype=np.float32)[labels[idx]])
        assert label.dtype == np.float32
        np.testing.assert_array_equal(ds.get_label(idx), label)


def test_files_are_sorted_and_found_recursively(tmp_path):
    images = random_images(4, 4, 4)
    order = ["b/z.png", "a.png", "b/a/c.jpg.png", "a/b.png"]  # written out of order
    for name, image in zip(order, images, strict=True):
        write_image(tmp_path / "d" / name, image)
    (tmp_path / "d" / "notes.txt").write_text("not an image")
    (tmp_path / "d" / ".hidden.png").write_bytes(b"garbage")
    ds = ImageFolderDataset(tmp_path / "d")
    expected = sorted(order)
    assert [ds.image_name(i) for i in range(len(ds))] == expected
    for i, name in enumerate(expected):
        np.testing.assert_array_equal(ds[i][0], images[order.index(name)].transpose(2, 0, 1))


def test_without_use_labels_labels_are_empty(labelled_layout):
    path, _, _ = labelled_layout(as_zip=True)
    ds = ImageFolderDataset(path)
    assert ds.labels_available and not ds.has_labels and ds.label_dim == 0
    assert ds[0][1].shape == (0,) and ds[0][1].dtype == np.float32


def test_class_names_set_the_label_size(tmp_path):
    names = ["a", "b", "c", "d"]  # class "d" has no image: one-hot still has 4 entries
    path = write_layout(tmp_path / "ds", random_images(3, 4, 4), [0, 2, 1], as_zip=False,
                        extra_meta={"class_names": names, "meta": [["x", 1]]})
    ds = ImageFolderDataset(path, use_labels=True)
    assert ds.class_names == names and ds.label_dim == 4
    np.testing.assert_array_equal(ds.get_label(1), [0, 0, 1, 0])


def test_float_vector_labels_are_used_as_given(tmp_path):
    vectors = [[0.5, -1.0], [2.0, 0.25], [0.0, 1.0]]
    path = write_layout(tmp_path / "ds", random_images(3, 4, 4), vectors, as_zip=True)
    ds = ImageFolderDataset(path, use_labels=True)
    assert ds.label_dim == 2 and not ds.has_onehot_labels
    for idx, vector in enumerate(vectors):
        np.testing.assert_array_equal(ds.get_label(idx), np.float32(vector))


def test_xflip_appends_mirrored_copies(labelled_layout):
    path, images, labels = labelled_layout(as_zip=False)
    ds = ImageFolderDataset(path, use_labels=True, xflip=True)
    assert len(ds) == 12
    for idx in range(6):
        np.testing.assert_array_equal(ds[idx][0], images[idx].transpose(2, 0, 1))
        mirrored = np.array([[row[::-1] for row in channel] for channel in images[idx].transpose(2, 0, 1)])
        np.testing.assert_array_equal(ds[6 + idx][0], mirrored)
        np.testing.assert_array_equal(ds[6 + idx][1], ds[idx][1])


def test_subset_is_the_reference_draw_and_deterministic(tmp_path):
    path = write_layout(tmp_path / "ds", random_images(20, 4, 4), None, as_zip=True)
    full = ImageFolderDataset(path)
    subset = ImageFolderDataset(path, max_size=7, random_seed=5)
    expected = sorted(np.random.RandomState(5).permutation(20)[:7])  # reference: shuffle, cut, sort
    assert [subset.image_name(i) for i in range(7)] == [full.image_name(i) for i in expected]
    again = ImageFolderDataset(path, max_size=7, random_seed=5)
    other = ImageFolderDataset(path, max_size=7, random_seed=6)
    names = [subset.image_name(i) for i in range(7)]
    assert names == [again.image_name(i) for i in range(7)]
    assert names != [other.image_name(i) for i in range(7)]
    flipped = ImageFolderDataset(path, max_size=7, random_seed=5, xflip=True)
    assert [flipped.image_name(i) for i in range(14)] == names + names
    assert len(ImageFolderDataset(path, max_size=50)) == 20


def test_grayscale_palette_and_jpeg(tmp_path):
    gray = random_images(2, 4, 4, channels=1)
    for i, image in enumerate(gray):
        write_image(tmp_path / "gray" / f"{i}.png", image)
    ds = ImageFolderDataset(tmp_path / "gray")
    assert ds.num_channels == 1
    np.testing.assert_array_equal(ds[1][0], gray[1].transpose(2, 0, 1))

    palette = PIL.Image.new("P", (4, 4))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 2), 1)
    (tmp_path / "pal").mkdir()
    palette.save(tmp_path / "pal" / "p.png")
    image = ImageFolderDataset(tmp_path / "pal")[0][0]
    expected = np.zeros((3, 4, 4), np.uint8) + np.array([10, 20, 30], np.uint8)[:, None, None]
    expected[:, 2, 1] = [200, 100, 50]
    np.testing.assert_array_equal(image, expected)

    flat = np.full((8, 8, 3), (40, 160, 90), np.uint8)
    write_image(tmp_path / "jpg" / "a.jpg", flat)
    assert np.abs(ImageFolderDataset(tmp_path / "jpg")[0][0].astype(int) - flat.transpose(2, 0, 1)).max() <= 2


def test_pillow_path_matches_pyspng_path(labelled_layout, monkeypatch):
    path, images, _ = labelled_layout(as_zip=True)
    with_spng = [ImageFolderDataset(path)[i][0] for i in range(6)]
    monkeypatch.setattr(image_files, "pyspng", None)
    without = [ImageFolderDataset(path)[i][0] for i in range(6)]
    for a, b, image in zip(with_spng, without, images, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, image.transpose(2, 0, 1))


def test_pickles_without_file_handles_and_reopens(labelled_layout):
    path, images, _ = labelled_layout(as_zip=True)
    ds = ImageFolderDataset(path)
    ds[0]  # opens the zip in this process
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[3][0], images[3].transpose(2, 0, 1))
    ds.close()
    np.testing.assert_array_equal(ds[2][0], images[2].transpose(2, 0, 1))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_with_two_workers_over_zip(tmp_path, context):
    images = random_images(16, 8, 8)
    labels = [i % 4 for i in range(16)]
    path = write_layout(tmp_path / "ds", images, labels, as_zip=True)
    ds = ImageFolderDataset(path, use_labels=True, xflip=True)
    ds[5]  # the parent holds an open zip handle that forked workers inherit
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context=context)
    got_images, got_labels = zip(*[(x.numpy(), c.numpy()) for x, c in loader], strict=True)
    got_images, got_labels = np.concatenate(got_images), np.concatenate(got_labels)
    expected = np.stack([ds[i][0] for i in range(len(ds))])
    np.testing.assert_array_equal(got_images, expected)
    np.testing.assert_array_equal(got_labels.argmax(1), labels + labels)


def _user_error(path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        ImageFolderDataset(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_refuses_bad_datasets(tmp_path):
    assert "no such folder" in _user_error(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    assert "no image files" in _user_error(tmp_path / "empty")

    unlabeled = write_layout(tmp_path / "unlabeled", random_images(2, 4, 4), None, as_zip=True)
    assert "labels requested" in _user_error(unlabeled, use_labels=True)
    no_json = write_layout(tmp_path / "nojson", random_images(2, 4, 4), None, as_zip=False, with_json=False)
    assert "labels requested" in _user_error(no_json, use_labels=True)
    assert not ImageFolderDataset(no_json).labels_available

    mixed = tmp_path / "mixed"
    write_image(mixed / "a.png", random_images(1, 4, 4)[0])
    write_image(mixed / "b.png", random_images(1, 8, 8)[0])
    message = _user_error(mixed)
    assert "differ" in message and "a.png" in message and "b.png" in message
    channels = tmp_path / "channels"
    write_image(channels / "a.png", random_images(1, 4, 4)[0])
    write_image(channels / "b.png", random_images(1, 4, 4, channels=1)[0])
    assert "differ" in _user_error(channels)

    wide = tmp_path / "wide"
    write_image(wide / "a.png", random_images(1, 4, 8)[0])
    assert "square" in _user_error(wide)
    assert "expected 16x16" in _user_error(write_layout(tmp_path / "r", random_images(1, 8, 8), None,
                                                        as_zip=True), resolution=16)


def test_refuses_bad_label_files(tmp_path):
    path = write_layout(tmp_path / "ds", random_images(3, 4, 4), [0, 1, 1], as_zip=False)
    meta = json.loads((path / "dataset.json").read_text())
    meta["labels"] = meta["labels"][:2]
    (path / "dataset.json").write_text(json.dumps(meta))
    assert "no label for 1 of 3 images (first: 00000/img00000002.png)" in _user_error(path, use_labels=True)
    (path / "dataset.json").write_text(json.dumps({"labels": [[n, lab] for n, lab in meta["labels"]] +
                                                   [["00000/img00000002.png", -1]]}))
    assert ">= 0" in _user_error(path, use_labels=True)
    (path / "dataset.json").write_text(json.dumps({"labels": meta["labels"] + [["00000/img00000002.png", 3]],
                                                   "class_names": ["a", "b"]}))
    assert "class_names" in _user_error(path, use_labels=True)
    (path / "dataset.json").write_text("{not json")
    assert "not valid JSON" in _user_error(path)


def test_refuses_unreadable_image_when_read(tmp_path):
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", png_bytes(random_images(1, 4, 4)[0]))
        zf.writestr("b.png", b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    with pytest.raises(UserError, match="b.png: cannot read image") as info:
        ImageFolderDataset(archive)
    assert str(info.value).startswith(f"{archive}/b.png: ")  # the whole path, so the file can be found


def test_refuses_16_bit_images(tmp_path):
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(buffer, format="PNG")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.png").write_bytes(buffer.getvalue())
    assert "unsupported image mode" in _user_error(tmp_path / "d")


def test_zipped_folder_and_mac_junk(tmp_path):
    """`zip -r ds.zip ds/` on a Mac: everything under ds/, plus __MACOSX/ and ._ resource forks."""
    images = random_images(3, 4, 4)
    inner = write_layout(tmp_path / "inner", images, [1, 0, 1], as_zip=True)
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(inner) as src, zipfile.ZipFile(archive, "w") as dst:
        for name in src.namelist():
            dst.writestr("ds/" + name, src.read(name))
        dst.writestr("__MACOSX/ds/._dataset.json", b"junk")
        dst.writestr("ds/00000/._img00000000.png", b"junk")
    ds = ImageFolderDataset(archive, use_labels=True)
    assert len(ds) == 3 and ds.image_name(0) == "00000/img00000000.png"
    np.testing.assert_array_equal(ds[2][0], images[2].transpose(2, 0, 1))
    assert [int(ds.get_label(i).argmax()) for i in range(3)] == [1, 0, 1]
