"""Feature extractors: the weight-free baselines against naive numpy, the registry contract, bad input."""

import numpy as np
import pytest
import torch

from thygan.errors import UserError
from thygan.gap.extractors import EXTRACTORS, colour_histogram, load_extractor, pixel_thumbnail

WEIGHT_FREE = ["colour-histogram", "pixels"]


def random_batch(count: int = 3, size: int = 24, seed: int = 0) -> torch.Tensor:
    pixels = np.random.RandomState(seed).randint(0, 256, [count, 3, size, size], dtype=np.uint8)
    return torch.from_numpy(pixels)


def test_colour_histogram_matches_numpy_histogram():
    images = random_batch()
    expected = np.stack([np.concatenate([np.histogram(img[c], bins=16, range=(0, 256))[0] / img[c].size
                                         for c in range(3)]) for img in images.numpy()])
    np.testing.assert_allclose(colour_histogram(images).numpy(), expected, rtol=1e-6)


def test_pixel_thumbnail_is_the_block_mean():
    images = random_batch(size=16)
    blocks = images.numpy().astype(np.float64).reshape(3, 3, 8, 2, 8, 2).mean(axis=(3, 5)) / 255
    np.testing.assert_allclose(pixel_thumbnail(images).numpy(), blocks.reshape(3, -1), rtol=1e-6)


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_weight_free_contract(name):
    extractor = load_extractor(name)
    images = random_batch()
    features = extractor.embed(images)
    assert features.dtype == torch.float32 and features.shape[0] == 3 and torch.isfinite(features).all()
    assert torch.equal(features, extractor.embed(images))                      # deterministic
    assert torch.equal(extractor.embed(images[1:2]), features[1:2])            # independent of the batch
    assert not torch.equal(features[0], features[1])                           # depends on the image
    assert extractor.identity.startswith(name) and extractor.name == name


def test_inception_gives_2048_d_features():
    extractor = load_extractor("inception")
    features = extractor.embed(random_batch(count=2, size=32))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    assert extractor.identity.startswith("inception:")


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="--extractor: unknown feature extractor 'nope'"):
        load_extractor("nope")
    with pytest.raises(UserError, match="--weights: no such file"):
        load_extractor("pixels", weights=str(tmp_path / "missing.pt"))
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(UserError, match="takes no weights"):
        load_extractor("colour-histogram", weights=str(tmp_path / "w.pt"))


def test_registry_lists_the_study_extractors():
    assert {"inception", "resnet50", "efficientnet_lite0", "dlc", *WEIGHT_FREE} <= set(EXTRACTORS.names())


def test_classifier_input_is_imagenet_normalised():
    from thygan.gap.extractors import _module_embed

    images = torch.tensor([[[[0]], [[128]], [[255]]]], dtype=torch.uint8)  # one 1x1 RGB pixel
    features = _module_embed(torch.nn.Flatten(), imagenet_input=True)(images)
    expected = [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225]
    np.testing.assert_allclose(features.numpy()[0], expected, rtol=1e-6)
    assert torch.equal(_module_embed(torch.nn.Flatten())(images), images.flatten(1).float())
