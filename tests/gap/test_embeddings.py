"""Embedding: batching, the content-keyed cache, and resuming an interrupted run."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.gap.conftest import channel_stats, coloured_images, write_folder
from thygan.gap.embeddings import cache_path, embed_set
from thygan.gap.extractors import FeatureExtractor
from thygan.gap.image_sets import open_image_set, parse_set_spec


class CountingExtractor(FeatureExtractor):
    """channel_stats that records the batch sizes it saw and can fail after a number of images."""

    def __init__(self, *, fail_after: int | None = None, identity: str = "counting:v1"):
        super().__init__("counting", identity, self._embed, torch.device("cpu"))
        self.batches, self.fail_after = [], fail_after

    def _embed(self, images):
        if self.fail_after is not None and sum(self.batches) + len(images) > self.fail_after:
            raise KeyboardInterrupt
        self.batches.append(len(images))
        return channel_stats(images)


def naive_features(folder, names):
    rows = []
    for name in names:
        image = torch.from_numpy(np.array(Image.open(folder / name).convert("RGB"))).permute(2, 0, 1)[None]
        rows.append(channel_stats(image)[0].numpy())
    return np.stack(rows)


def test_features_match_one_image_at_a_time(two_domains):
    red, _ = two_domains
    image_set = open_image_set(parse_set_spec(f"red={red}"))
    extractor = CountingExtractor()
    embedding = embed_set(image_set, extractor, batch_size=5, progress=False)
    assert extractor.batches == [5, 5, 5, 5, 4]
    np.testing.assert_allclose(embedding.features, naive_features(red, image_set.item_names), rtol=1e-6)
    assert embedding.labels.tolist() == image_set.labels.tolist() and embedding.class_names == ["a", "b"]
    assert embedding.class_keys().tolist() == ["a"] * 12 + ["b"] * 12


def test_batches_break_where_the_image_size_changes(tmp_path):
    folder = write_folder(tmp_path / "m", coloured_images(3, colour=(1, 2, 3), size=8))
    for index in range(3, 5):
        image = coloured_images(1, colour=(9, 9, 9), size=10, seed=index)[0]
        Image.fromarray(image).save(folder / f"img{index:04d}.png")
    extractor = CountingExtractor()
    embed_set(open_image_set(parse_set_spec(f"m={folder}")), extractor, batch_size=4, progress=False)
    assert extractor.batches == [3, 2]


def test_cache_is_reused_across_names_and_keyed_by_extractor(two_domains, tmp_path):
    red, _ = two_domains
    cache = tmp_path / "cache"
    first = embed_set(open_image_set(parse_set_spec(f"red={red}")), CountingExtractor(), cache_dir=cache,
                      progress=False)
    again = CountingExtractor()
    renamed = open_image_set(parse_set_spec(f"renamed={red}"))
    second = embed_set(renamed, again, cache_dir=cache, progress=False)
    assert again.batches == [] and second.name == "renamed"
    np.testing.assert_array_equal(first.features, second.features)
    other = CountingExtractor(identity="counting:v2")
    embed_set(open_image_set(parse_set_spec(f"red={red}")), other, cache_dir=cache, progress=False)
    assert sum(other.batches) == 24 and len(list(cache.glob("*.npz"))) == 2


def test_a_damaged_cache_file_is_recomputed(two_domains, tmp_path):
    red, _ = two_domains
    image_set = open_image_set(parse_set_spec(f"red={red}"))
    extractor = CountingExtractor()
    path = cache_path(tmp_path, extractor, image_set)
    path.write_bytes(b"not an npz")
    embed_set(image_set, extractor, cache_dir=tmp_path, progress=False)
    assert sum(extractor.batches) == 24
    with np.load(path) as data:
        assert data["features"].shape == (24, 6)


def test_interrupted_run_resumes_from_the_partial_file(two_domains, tmp_path):
    red, _ = two_domains
    image_set = open_image_set(parse_set_spec(f"red={red}"))
    with pytest.raises(KeyboardInterrupt):
        embed_set(image_set, CountingExtractor(fail_after=17), cache_dir=tmp_path, batch_size=4,
                  checkpoint_every=8, progress=False)
    partial = cache_path(tmp_path, CountingExtractor(), image_set).with_suffix(".partial.npz")
    with np.load(partial) as data:
        assert len(data["features"]) == 16  # saved after 8 and after 16 images; the 17th batch failed
    resumed = CountingExtractor()
    embedding = embed_set(image_set, resumed, cache_dir=tmp_path, batch_size=4, progress=False)
    assert sum(resumed.batches) == 8 and not partial.exists()
    np.testing.assert_allclose(embedding.features, naive_features(red, image_set.item_names), rtol=1e-6)
