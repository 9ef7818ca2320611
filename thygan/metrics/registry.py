"""The metric table: name -> MetricSpec, and the entry point the training loop calls at each snapshot.

The reference's names are registered in one table; any other name that follows the grammar of
thygan.metrics.specs (``fid2k_full``, ``kid1k_full_perclass``, ``pr5k3``, ``is10k``...) resolves as well,
so ``name in METRICS`` and ``METRICS.get(name)`` accept both.
"""

import time
from pathlib import Path

from dnnlib import Registry
from thygan.metrics.report import (
    add_to_tensorboard,
    add_to_training_stats,
    format_results,
    metric_record,
    snapshot_kimg,
)
from thygan.metrics.specs import NAME_PATTERNS, MetricSpec, parse_metric_name
from thygan.runs import append_metric_record

__all__ = ["METRICS", "MetricTable", "metric_record", "run_metric_for_training", "unavailable_for_training"]


class MetricTable(Registry):
    """A Registry of MetricSpec that also resolves names built by the metric-name grammar."""

    def get(self, name: str) -> MetricSpec:
        if super().__contains__(name):
            return super().get(name)
        spec = parse_metric_name(name)
        if spec is None:
            raise KeyError(f"unknown metric '{name}' (known: {', '.join(self.names())})")
        return spec

    def __contains__(self, name: str) -> bool:
        return super().__contains__(name) or parse_metric_name(name) is not None

    def names(self) -> list[str]:
        """The registered names, then the patterns any count fits (e.g. fid<N>[_full][_perclass])."""
        return super().names() + list(NAME_PATTERNS)


METRICS = MetricTable("metric")
# StyleGAN2-ADA's table (metric_main.py), ADA-paper metrics first, then the legacy ones; per-class FID/KID.
for _name in ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k", "fid50k", "kid50k", "pr50k3",
              "fid50k_full_perclass", "kid50k_full_perclass"):
    METRICS.register(_name, parse_metric_name(_name))


def unavailable_for_training(names: list[str]) -> dict[str, str]:
    """Metric name -> why its detector cannot be loaded here, for the metrics of a training run.

    Checked at launch so a missing file stops (or drops the default metrics of) a run at once instead
    of at its first snapshot. Training has no --detector/--vgg16 flags: each reason names the file and
    $THYGAN_DETECTOR or $THYGAN_VGG16, the settings it reads.
    """
    from thygan.errors import UserError
    from thygan.metrics.evaluate import Detectors, MetricOptions

    detectors = Detectors(MetricOptions(device="cpu"), flags=False)
    problems = {}
    for name in names:
        try:
            detectors.check_available(METRICS.get(name))
        except UserError as exc:
            reason = str(exc)
            problems[name] = reason if reason.startswith(f"{name}:") else f"{name}: {reason}"
    return problems


def run_metric_for_training(name: str, *, G_ema, data, snapshot_path: Path, run_dir: Path, device,
                            options=None, detectors=None) -> dict | None:
    """Evaluate metric ``name`` on G_ema against the training data at a snapshot.

    The result goes to ``metric-<name>.jsonl`` (reference record), the tick's stats.jsonl record and
    TensorBoard. Reals follow the reference: the whole dataset (the run's --subset is ignored),
    mirrored only for the legacy names when the run mirrors (thygan.metrics.specs). A metric that cannot
    be computed here (no VGG16 weights, no IS head), or that fails on the way (a detector file gone or
    damaged since launch, out of memory), prints one line saying why and is skipped: training goes on.

    Args:
        data: thygan.stylegan.training_options.DataOptions of the run.
        options: MetricOptions; default: the training device, detector and weights from the environment.
        detectors: The run's Detectors, shared by every metric and snapshot; default: new ones for
            ``options`` (their files are still read once per process).

    Returns:
        The record written, or None for a metric skipped.
    """
    from thygan.metrics.evaluate import Detectors, MetricOptions, compute_metric
    from thygan.metrics.inputs import NetworkInputs
    from thygan.metrics.stats_cache import cache_dir

    start = time.time()
    spec = METRICS.get(name)
    options = options or MetricOptions(device=str(device))
    print(f"{name}: evaluating {Path(snapshot_path).name} (the real images' features are computed once, then "
          "cached)...", flush=True)
    try:
        inputs = NetworkInputs(G_ema, data_path=data.path, xflip=data.xflip, seed=options.seed,
                               cache=cache_dir(options.cache_dir), class_names=data.class_names)
        results = compute_metric(spec, inputs, detectors or Detectors(options, flags=False), options)
    except Exception as exc:  # a metric must never end a training run; the reason is logged instead
        print(f"note: {name} skipped at {Path(snapshot_path).name}: {_one_line(exc)}", flush=True)
        return None
    record = metric_record(name, results, total_time=time.time() - start, num_gpus=1,
                           snapshot=Path(snapshot_path).name)
    append_metric_record(run_dir, record)
    step = add_to_training_stats(run_dir, results)
    add_to_tensorboard(run_dir, results, step=snapshot_kimg(snapshot_path) if step is None else step)
    print(f"{name}: {format_results(results)}  ({record['total_time_str']})")
    return record


def _one_line(exc: Exception) -> str:
    """A failure as one log line: a UserError's message; else the type and the message's key line."""
    import torch

    from thygan.errors import UserError

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if isinstance(exc, torch.jit.Error) and lines:
        return lines[-1]  # TorchScript puts its interpreter trace first and the original error last
    if isinstance(exc, UserError) and lines:
        return lines[0]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
