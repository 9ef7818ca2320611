"""benchmarks/learns.py: the texture dataset it trains on, its stats parsing and its accuracy measure."""

import json

import numpy as np
import pytest
import torch

from thygan.data.dataset import ImageFolderDataset
from thygan.errors import UserError


def test_dataset_layout_is_balanced_and_kept_on_rerun(learns, tmp_path):
    root = learns.write_shapes_dataset(tmp_path / "shapes", per_class=5, resolution=32, seed=3)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["class_names"] == ["disc", "stripes", "checker"]
    names = [name for name, _ in meta["labels"]]
    assert names == [f"00000/img{k:08d}.png" for k in range(15)]
    assert all((root / name).is_file() for name in names)
    assert np.bincount([label for _, label in meta["labels"]]).tolist() == [5, 5, 5]
    dataset = ImageFolderDataset(root, use_labels=True)
    assert len(dataset) == 15 and dataset[0][0].shape == (3, 32, 32) and dataset[0][0].dtype == np.uint8
    first = (root / names[0]).read_bytes()
    learns.write_shapes_dataset(root, per_class=5, resolution=32, seed=4)  # complete folder: left alone
    assert (root / names[0]).read_bytes() == first


def _textures(learns, label: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(label)
    return np.stack([learns.draw_texture(label, rng, 32) for _ in range(count)]).astype(np.float64)


def test_colour_alone_does_not_tell_the_class(learns):
    """Every class draws its colours from one palette: per-class average colours agree (4 sigma margin)."""
    means = np.stack([_textures(learns, label, 200).mean(axis=(0, 1, 2)) for label in range(3)])  # [3, RGB]
    assert np.abs(means - means.mean(axis=0)).max() < 25


def _foreground_fraction(image: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of pixels far (in summed |RGB| distance) from ``reference``: colours differ by > 191."""
    return float(np.mean(np.abs(image - reference).sum(axis=2) > 95))


def test_discs_cover_the_area_of_their_radius_range(learns):
    # Centre in [0.3, 0.7]^2 and radius <= 0.34 keep the corners in the background.
    for image in _textures(learns, 0, 50):
        corners = np.stack([image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]])
        assert np.abs(corners - corners.mean(axis=0)).max() < 40  # background + noise (sigma ~10)
        fraction = _foreground_fraction(image, corners.mean(axis=0))
        assert np.pi * 0.17**2 < fraction < np.pi * 0.35**2  # radius 0.18-0.34, one pixel of edge slack


@pytest.mark.parametrize("label", [1, 2])
def test_stripes_and_checkers_split_the_image_between_two_colours(learns, label):
    for image in _textures(learns, label, 50):
        fraction = _foreground_fraction(image, image[0, 0])
        assert 0.3 < fraction < 0.7


def test_stripes_are_one_dimensional_and_checkers_are_not(learns):
    """Stripes put their spectral energy on one line through the origin (the stripe normal), checkers
    spread it over two; measured as the share of energy on the line through the strongest frequency."""
    def line_energy(image: np.ndarray) -> float:
        flat = image.reshape(-1, 3) - image.reshape(-1, 3).mean(axis=0)
        axis = np.linalg.svd(flat, full_matrices=False)[2][0]  # the fg-bg colour direction
        gray = (flat @ axis).reshape(32, 32)
        spectrum = np.abs(np.fft.fft2(gray)) ** 2
        fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
        freqs = np.stack(np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32), indexing="ij"), -1)
        peak = freqs[fy, fx] / np.linalg.norm(freqs[fy, fx])
        along = np.abs(freqs @ peak)  # frequencies colinear with the peak lie on its line
        on_line = np.abs(np.linalg.norm(freqs, axis=-1) - along) < 1.5 / 32
        return float(spectrum[on_line].sum() / spectrum.sum())

    stripes = np.median([line_energy(img) for img in _textures(learns, 1, 30)])
    checkers = np.median([line_energy(img) for img in _textures(learns, 2, 30)])
    assert stripes > 0.6 and checkers < stripes - 0.2


def test_training_seconds_sums_ticks(learns, tmp_path):
    records = [{"Timing/sec_per_tick": {"mean": 10.0}, "Timing/sec_per_kimg": {"mean": 5.0}},   # 2 kimg
               {"Timing/sec_per_tick": {"mean": 30.0}, "Timing/sec_per_kimg": {"mean": 10.0}}]  # 3 kimg
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    seconds, kimg = learns.training_seconds(tmp_path)
    assert seconds == pytest.approx(40.0) and kimg == pytest.approx(5.0)
    assert learns.training_seconds(tmp_path / "absent") == (0.0, 0.0)


def test_per_class_accuracy_counts_hits_within_each_class(learns):
    """A stub judge predicts the class written into pixel (0, 0, 0): 0, 100 or 200."""
    targets = torch.tensor([0, 100, 200]) / 127.5 - 1

    def judge(x: torch.Tensor) -> torch.Tensor:
        return -(x[:, 0, 0, 0, None] - targets).square()

    predicted = [0, 1, 1, 1, 2, 0]
    images = np.zeros([6, 3, 8, 8], np.uint8)
    images[:, 0, 0, 0] = np.array(predicted) * 100
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert learns.per_class_accuracy(judge, images, labels).tolist() == [0.5, 1.0, 0.5]


def test_a_run_folder_with_other_options_is_refused(learns, tmp_path):
    data = learns.write_shapes_dataset(tmp_path / "shapes", per_class=1, resolution=32, seed=0)
    run_dir = tmp_path / "gan"
    run_dir.mkdir()
    (run_dir / "training_options.json").write_text(json.dumps({"random_seed": 5}))
    with pytest.raises(UserError, match="--outdir: .* holds a run with other options"):
        learns.train_gan(learns.gan_options(data, cfg="cpu32", seed=0), run_dir, minutes=1)
    assert json.loads((run_dir / "training_options.json").read_text()) == {"random_seed": 5}
