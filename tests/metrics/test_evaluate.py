"""Metrics end to end on a tiny generator, dataset and detector, against features computed by hand."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from tests.metrics.conftest import FeaturesOnly, tiny_generator
from tests.metrics.test_kid import naive_mmd2
from tests.stylegan.conftest import write_tiny_dataset
from thygan.errors import UserError
from thygan.metrics.detector import MetricUnavailable
from thygan.metrics.evaluate import Detectors, MetricOptions, compute_metric
from thygan.metrics.inception import inception_from_module
from thygan.metrics.inputs import FolderInputs, NetworkInputs
from thygan.metrics.registry import METRICS
from torch_utils.seeding import seed_latents


class Counting(torch.nn.Module):
    """Wraps a detector and counts the images it sees."""

    def __init__(self, detector):
        super().__init__()
        self.detector, self.identity, self.seen = detector, detector.identity, 0

    def forward(self, images):
        self.seen += len(images)
        return self.detector(images)


def _setup(tmp_path, tiny_data, detector, *, xflip=False, **option_changes):
    options = MetricOptions(cache_dir=str(tmp_path / "cache"), batch_size=5, **option_changes)
    inputs = NetworkInputs(tiny_generator(), data_path=str(tiny_data), xflip=xflip, cache=tmp_path / "cache")
    return inputs, Detectors(options, inception=detector), options


def png_images(folder) -> np.ndarray:
    """A tiny dataset's images read with PIL, bypassing thygan's loader: uint8 [N, 3, H, W], file order."""
    files = sorted(Path(folder).rglob("*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])


def features(detector, images: np.ndarray) -> np.ndarray:
    return detector(torch.from_numpy(np.ascontiguousarray(images))).double().numpy()


def drawn_labels(count: int, num_images: int = 12) -> np.ndarray:
    """The labels the metrics draw for generated images: item picks from RandomState(seed 0); the tiny
    dataset's image i has class i % 3."""
    picks = np.random.RandomState(0).randint(num_images, size=count)
    return np.eye(3, dtype=np.float32)[picks % 3]


def _fakes_by_hand(G, labels, detector):
    seeds = list(range(len(labels)))
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    with torch.no_grad():
        img = G(seed_latents(seeds, G.z_dim), torch.from_numpy(labels), noise_mode="random",
                noise_generators=generators)
    return detector((img * 127.5 + 128).clamp(0, 255).to(torch.uint8)).double().numpy()


def _reals_by_hand(dataset, detector, indices):
    images = torch.from_numpy(np.stack([dataset[i][0] for i in indices]))
    return detector(images).double().numpy()


def _scipy_fid(a, b):
    s1, s2 = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.real(np.square(a.mean(0) - b.mean(0)).sum() + np.trace(s1 + s2 - 2 * root)))


def test_fid_equals_the_formula_on_hand_extracted_features(tmp_path, tiny_data, tiny_detector):
    inputs, detectors, options = _setup(tmp_path, tiny_data, tiny_detector)
    result = compute_metric(METRICS.get("fid30_full"), inputs, detectors, options)
    picks = np.random.RandomState(0).randint(len(inputs.dataset), size=30)  # labels follow the data
    labels = np.stack([inputs.dataset.get_label(int(i)) for i in picks])
    fake = _fakes_by_hand(inputs.G, labels, tiny_detector)
    real = _reals_by_hand(inputs.dataset, tiny_detector, range(len(inputs.dataset)))
    assert result == {"fid30_full": pytest.approx(_scipy_fid(real, fake), rel=1e-6)}


def test_per_class_kid_compares_class_c_with_class_c(tmp_path, tiny_data, tiny_detector):
    inputs, detectors, options = _setup(tmp_path, tiny_data, tiny_detector)
    result = compute_metric(METRICS.get("kid6_full_perclass"), inputs, detectors, options)
    assert list(result) == ["kid6_full_perclass_mean"] + [f"kid6_full_perclass_class{c}" for c in range(3)]
    classes = np.array([int(np.argmax(inputs.dataset.get_label(i))) for i in range(len(inputs.dataset))])
    for c in range(3):
        real = _reals_by_hand(inputs.dataset, tiny_detector, np.flatnonzero(classes == c))  # 4 images
        fake = _fakes_by_hand(inputs.G, np.eye(3, dtype=np.float32)[[c] * 6], tiny_detector)
        # m = min(4, 6) = 4 per subset; average over the reference's 100 draws, replayed here
        draw, values = np.random.RandomState(0), []
        for _ in range(100):
            x, y = fake[draw.choice(6, 4, replace=False)], real[draw.choice(4, 4, replace=False)]
            values.append(naive_mmd2(x, y))
        assert result[f"kid6_full_perclass_class{c}"] == pytest.approx(np.mean(values), rel=1e-6)
    assert result["kid6_full_perclass_mean"] == pytest.approx(np.mean(list(result.values())[1:]))


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # the tiny detector's dead ReLU channels
def test_per_class_fid_compares_class_c_with_class_c(tmp_path, tiny_detector):
    data = write_tiny_dataset(tmp_path / "thirty", count=30)  # 10 reals per class: full-rank 8-D covariances
    inputs, detectors, options = _setup(tmp_path, data, tiny_detector)
    result = compute_metric(METRICS.get("fid10_full_perclass"), inputs, detectors, options)
    assert list(result) == ["fid10_full_perclass_mean"] + [f"fid10_full_perclass_class{c}" for c in range(3)]
    real_all = features(tiny_detector, png_images(data))
    for c in range(3):
        fake = _fakes_by_hand(inputs.G, np.eye(3, dtype=np.float32)[[c] * 10], tiny_detector)
        expected = _scipy_fid(real_all[c::3], fake)  # image i is class i % 3
        assert result[f"fid10_full_perclass_class{c}"] == pytest.approx(expected, rel=1e-6)
    other_class = _scipy_fid(real_all[1::3], _fakes_by_hand(inputs.G, np.eye(3, dtype=np.float32)[[0] * 10],
                                                             tiny_detector))
    assert result["fid10_full_perclass_class0"] != pytest.approx(other_class, rel=1e-3)  # the split matters
    assert result["fid10_full_perclass_mean"] == pytest.approx(np.mean(list(result.values())[1:]))


def test_full_metrics_read_every_unmirrored_real_legacy_ones_keep_the_mirror(tmp_path, tiny_data, tiny_detector):
    # The reference's metric_main.py: *_full set xflip=False; legacy fid<N> keeps the dataset's xflip and
    # reads the first N items of the doubled dataset (originals, then their mirrored copies).
    counting = Counting(tiny_detector)
    inputs, detectors, options = _setup(tmp_path, tiny_data, counting, xflip=True)
    originals = png_images(tiny_data)
    full = compute_metric(METRICS.get("fid10_full"), inputs, detectors, options)
    assert counting.seen == 12 + 10  # the 12 originals, not the 24 items of the mirrored dataset
    fake = _fakes_by_hand(inputs.G, drawn_labels(10), tiny_detector)
    assert full["fid10_full"] == pytest.approx(_scipy_fid(features(tiny_detector, originals), fake), rel=1e-6)
    legacy = compute_metric(METRICS.get("fid30"), inputs, detectors, options)
    assert counting.seen == 22 + 24 + 30
    mirrored = np.concatenate([originals, originals[:, :, :, ::-1]])
    fake = _fakes_by_hand(inputs.G, drawn_labels(30), tiny_detector)
    assert legacy["fid30"] == pytest.approx(_scipy_fid(features(tiny_detector, mirrored), fake), rel=1e-6)


def test_real_statistics_are_computed_once(tmp_path, tiny_data, tiny_detector):
    counting = Counting(tiny_detector)
    inputs, detectors, options = _setup(tmp_path, tiny_data, counting)
    first = compute_metric(METRICS.get("fid10_full"), inputs, detectors, options)
    assert counting.seen == 12 + 10
    second = compute_metric(METRICS.get("fid10_full"), inputs, detectors, options)
    assert counting.seen == 12 + 10 + 10 and second == first  # reals from the cache, same fakes


def test_inception_score_needs_a_classifier(tmp_path, tiny_data, tiny_detector):
    inputs, detectors, options = _setup(tmp_path, tiny_data, tiny_detector)
    result = compute_metric(METRICS.get("is20"), inputs, detectors, options)
    assert set(result) == {"is20_mean", "is20_std"} and result["is20_mean"] >= 1
    inputs, detectors, options = _setup(tmp_path, tiny_data, inception_from_module(FeaturesOnly()))
    with pytest.raises(MetricUnavailable, match="^is20: unavailable: .*no classification head"):
        compute_metric(METRICS.get("is20"), inputs, detectors, options)


def test_precision_recall_without_vgg16_weights_is_unavailable(tmp_path, tiny_data, tiny_detector,
                                                                monkeypatch):
    monkeypatch.delenv("THYGAN_VGG16", raising=False)
    inputs, detectors, options = _setup(tmp_path, tiny_data, tiny_detector)
    with pytest.raises(MetricUnavailable, match="^pr10k3: unavailable: .*VGG16 weights"):
        compute_metric(METRICS.get("pr10k3"), inputs, detectors, options)


def test_folder_inputs_score_one_folder_against_another(tmp_path, tiny_data, tiny_detector):
    options = MetricOptions(cache_dir=str(tmp_path / "cache"), batch_size=4)
    inputs = FolderInputs(str(tiny_data), str(tiny_data), cache=tmp_path / "cache")
    detectors = Detectors(options, inception=tiny_detector)
    same = compute_metric(METRICS.get("fid12_full"), inputs, detectors, options)
    assert abs(same["fid12_full"]) < 1e-6  # a folder against itself
    with pytest.raises(UserError, match="--fake: 20 images are needed.*has 12"):
        compute_metric(METRICS.get("fid20_full"), inputs, detectors, options)
    with pytest.raises(UserError, match="per-class metrics need a conditional network"):
        compute_metric(METRICS.get("fid12_full_perclass"), inputs, detectors, options)


def test_detector_batch_defaults_to_what_is_fastest_on_the_device():
    assert MetricOptions(device="cpu").batch == 8 and MetricOptions(device="cuda:0").batch == 32
    assert MetricOptions(device="cpu", batch_size=3).batch == 3
