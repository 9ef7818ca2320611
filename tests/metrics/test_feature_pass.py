"""Feature passes: an interrupted pass resumes to the same result; finished real sets are cached."""

import numpy as np
import pytest
import torch

from thygan.metrics.feature_pass import run_pass, statistics
from thygan.metrics.statistics import MeanCov


class RandomImages:
    """Deterministic images; optionally fails once ``fail_at`` items have been handed out."""

    def __init__(self, count, *, identity="random-images", fail_at=None):
        self.count, self.identity, self.fail_at, self.label = count, identity, fail_at, "random"
        self.served = 0

    def __len__(self):
        return self.count

    def batches(self, start, batch_size):
        for first in range(start, self.count, batch_size):
            if self.fail_at is not None and first >= self.fail_at:
                raise KeyboardInterrupt
            size = min(batch_size, self.count - first)
            self.served += size
            rng = np.random.RandomState(first)  # items are a function of their index
            yield torch.from_numpy(rng.randint(0, 256, (size, 3, 4, 4), dtype=np.uint8))


def extract(images):
    return images.float().flatten(1)[:, :5]


def test_interrupted_pass_resumes_where_it_stopped(tmp_path):
    straight = run_pass(RandomImages(20), extract, MeanCov(), batch_size=4)
    checkpoint = tmp_path / "pass.partial.npz"
    with pytest.raises(KeyboardInterrupt):
        run_pass(RandomImages(20, fail_at=12), extract, MeanCov(), batch_size=4, checkpoint=checkpoint,
                 checkpoint_seconds=0)
    assert checkpoint.is_file()
    source = RandomImages(20)
    resumed = run_pass(source, extract, MeanCov(), batch_size=4, checkpoint=checkpoint, checkpoint_seconds=0)
    assert source.served == 8  # only the items after the checkpoint
    np.testing.assert_allclose(resumed.mean, straight.mean, rtol=1e-12)
    np.testing.assert_allclose(resumed.cov(), straight.cov(), rtol=1e-10)


def test_real_statistics_are_cached_per_source_and_detector(tmp_path):
    common = dict(extractor_name="toy", cache=tmp_path, batch_size=8)
    first = statistics(RandomImages(16), extract, MeanCov(), extractor_id="a", keep=True, **common)
    again_source = RandomImages(16, fail_at=0)  # would raise if it were read
    again = statistics(again_source, extract, MeanCov(), extractor_id="a", keep=True, **common)
    np.testing.assert_array_equal(again.mean, first.mean)
    other = RandomImages(16)
    statistics(other, extract, MeanCov(), extractor_id="b", keep=True, **common)  # other detector: recomputed
    assert other.served == 16
    assert len(list(tmp_path.glob("random-toy-meancov-*.npz"))) == 2
    assert not list(tmp_path.glob("*.partial.npz"))


def test_unidentified_or_generated_passes_leave_no_files(tmp_path):
    statistics(RandomImages(8, identity=None), extract, MeanCov(), extractor_id="a", extractor_name="toy",
               cache=tmp_path, keep=True)
    statistics(RandomImages(8), extract, MeanCov(), extractor_id="a", extractor_name="toy", cache=tmp_path,
               keep=False)
    assert list(tmp_path.iterdir()) == []
