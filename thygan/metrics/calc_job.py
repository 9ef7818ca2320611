"""What ``calc_metrics.py`` / ``thygan metrics`` does: score a network against its dataset, or one image
folder against another, and append each metric's reference JSON line to ``metric-<name>.jsonl``.

Everything the user can get wrong (names, files, flags, an unavailable metric) is checked before the
first image is processed, so a mistake costs seconds, not hours.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

from thygan.device import pick_device
from thygan.errors import UserError
from thygan.metrics.evaluate import Detectors, MetricOptions, check_real_counts, compute_metric
from thygan.metrics.inputs import FolderInputs
from thygan.metrics.report import format_results, metric_record
from thygan.metrics.specs import MetricSpec
from thygan.metrics.stats_cache import cache_dir
from thygan.runs import append_metric_record


@dataclass
class CalcJob:
    metrics: str = "fid50k_full"   # comma list of metric names
    network: str | None = None     # network file (thygan checkpoint or reference .pkl)
    data: str | None = None        # dataset; None = the one recorded in the network file
    mirror: bool | None = None     # mirrored dataset (legacy metrics only); None = as recorded
    gpus: int = 1                  # processes (only 1 is supported)
    verbose: bool = True           # progress bars
    real: str | None = None        # folder mode: real images
    fake: str | None = None        # folder mode: generated images
    outdir: str | None = None      # where metric-<name>.jsonl goes; None = beside the network
    detector: str | None = None    # Inception TorchScript
    vgg16: str | None = None       # VGG16 weights for precision/recall
    cache_dir: str | None = None   # statistics cache
    batch_size: int | None = None  # images per forward pass; None = MetricOptions.batch (8 on CPU, 32 on GPU)
    device: str = "auto"           # auto | cpu | cuda
    seed: int = 0                  # first latent seed
    dry_run: bool = False          # check everything and print the plan only


@dataclass
class _Target:
    inputs: object
    snapshot: str | None      # the record's snapshot_pkl
    out_folder: Path | None   # where jsonl lines go; None = print only
    description: str


def parse_metric_list(text: str) -> list[MetricSpec]:
    from thygan.metrics.registry import METRICS

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError("--metrics: expected at least one metric name, e.g. fid50k_full")
    return [METRICS.lookup(name, lambda message: UserError(f"--metrics: {message}")) for name in names]


def _recorded_data(meta: dict) -> dict:
    """Dataset path and mirroring stored in a network file: thygan's training_options.data or the pickle's
    kwargs. The run's --subset is not needed: every metric reads the whole dataset (max_size=None)."""
    data = (meta.get("training_options") or {}).get("data") or {}
    if not data.get("path"):
        data = (meta.get("extra") or {}).get("training_set_kwargs") or {}
    return {"path": data["path"], "xflip": bool(data.get("xflip"))} if data.get("path") else {}


def _network_target(job: CalcJob, specs: list[MetricSpec], options: MetricOptions) -> _Target:
    from thygan.io.network_file import load_network_file
    from thygan.metrics.detector import file_sha256
    from thygan.metrics.inputs import NetworkInputs

    if job.real or job.fake:
        raise UserError("--real/--fake: give either --network or the two image folders, not both")
    loaded = load_network_file(job.network)
    G = loaded.networks.get("G_ema") or loaded.networks.get("G")
    if G is None:
        raise UserError(f"--network: {job.network} holds no generator (G_ema or G)")
    recorded = _recorded_data(loaded.meta)
    if job.data is None and not recorded:
        raise UserError(f"--data: could not look up dataset options in {job.network}; please specify --data")
    data = {"path": job.data, "xflip": False} if job.data else recorded
    # A recorded path is relative to where training ran: say so when it does not resolve from here.
    what = "--data" if job.data else f"the training dataset recorded in {job.network} (pass --data to give it)"
    # As the reference's calc_metrics: --mirror sets the dataset's xflip, which only the legacy metrics
    # keep; *_full and is<N> always read the unmirrored reals.
    xflip = data["xflip"] if job.mirror is None else job.mirror
    G = G.eval().requires_grad_(False).to(options.device)
    inputs = NetworkInputs(G, data_path=data["path"], xflip=xflip, seed=options.seed,
                           network_identity=file_sha256(loaded.weights_file),
                           cache=cache_dir(options.cache_dir), class_names=loaded.class_names, what=what)
    mirrored = [spec.name for spec in specs if spec.mirrored_reals] if xflip else []
    note = f" (mirrored reals for {', '.join(mirrored)})" if mirrored else ""
    out_folder = Path(job.outdir) if job.outdir else Path(loaded.weights_file).parent
    return _Target(inputs, Path(loaded.weights_file).name, out_folder,
                   f"network {loaded.weights_file} vs {data['path']}{note}")


def _folder_target(job: CalcJob, specs: list[MetricSpec], options: MetricOptions) -> _Target:
    if not job.fake:
        raise UserError("--fake: give the folder of generated images (or --network instead of --real/--fake)")
    if not job.real and any(spec.needs_reals for spec in specs):
        raise UserError("--real: give the folder of real images (only is<N> metrics work without it)")
    inputs = FolderInputs(job.real, job.fake, cache=cache_dir(options.cache_dir))
    return _Target(inputs, str(job.fake), Path(job.outdir) if job.outdir else None,
                   f"images {job.fake} vs {job.real}")


def _check_specs(specs: list[MetricSpec], target: _Target, detectors: Detectors, *, verbose: bool = False) -> None:
    for spec in specs:
        if spec.per_class and target.inputs.num_classes < 1:
            raise UserError(f"--metrics: {spec.name} needs a conditional --network and a dataset with "
                            f"class labels")
        detectors.check_available(spec)  # loads the detector: a bad --detector/--vgg16 file fails here
        check_real_counts(spec, target.inputs)
        target.inputs.fakes(spec.num_gen)  # a folder with too few images fails here, before any pass
    if isinstance(target.inputs, FolderInputs):  # every --fake image the metrics read decodes, before the reals
        target.inputs.fakes(max(spec.num_gen for spec in specs)).check(verbose=verbose)


def run_calc_job(job: CalcJob) -> list[dict]:
    """Check the job, then compute each metric, print it and append its record; returns the records."""
    specs = parse_metric_list(job.metrics)
    if job.gpus != 1:
        raise UserError(f"--gpus: {job.gpus} processes are not supported; metrics run on one device "
                        f"(--gpus=1)")
    if not job.network and not (job.real or job.fake):
        raise UserError("--network: give a network file, or --real and --fake image folders")
    options = MetricOptions(detector=job.detector, vgg16=job.vgg16, cache_dir=job.cache_dir,
                            batch_size=job.batch_size, device=pick_device(job.device).type, seed=job.seed,
                            verbose=job.verbose)
    target = _network_target(job, specs, options) if job.network else _folder_target(job, specs, options)
    detectors = Detectors(options)
    _check_specs(specs, target, detectors, verbose=job.verbose)
    names = ", ".join(spec.name for spec in specs)
    print(f"Metrics {names} on {target.description} (device {options.device})")
    if job.dry_run:
        print("Dry run; exiting.")
        return []
    if target.out_folder is not None:
        target.out_folder.mkdir(parents=True, exist_ok=True)
    records = []
    for spec in specs:
        start = time.time()
        results = compute_metric(spec, target.inputs, detectors, options)
        record = metric_record(spec.name, results, total_time=time.time() - start, num_gpus=1,
                               snapshot=target.snapshot)
        print(json.dumps(record))
        where = append_metric_record(target.out_folder, record) if target.out_folder is not None else None
        print(f"{spec.name}: {format_results(results)}  ({record['total_time_str']})"
              + (f" -> {where}" if where else ""))
        records.append(record)
    return records
