"""Start a training run: resolve options, make the run folder, then run the loop in one process, in
``--gpus`` spawned processes, or in each process torchrun started (torch_utils.launch). SIGINT/SIGTERM end the run with
a final snapshot."""

import dataclasses
import json
import signal
import time
from pathlib import Path

from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths
from thygan.runs import latest_snapshot, new_run_dir, read_options, state_files, tee_to_log, write_options
from thygan.stylegan.training_options import (
    OPTIONS_FILE,
    PRECISIONS,
    TrainFlags,
    TrainingOptions,
    default_metrics,
    options_from_dict,
    options_to_json,
    resolve_training_options,
)
from torch_utils import distributed
from torch_utils.launch import is_first_process, launch, torchrun_world_size


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it after each minibatch and snapshots before leaving."""

    def __init__(self):
        self.requested = False
        self._first_signal_time = 0.0

    def install(self) -> dict:
        """Install the handlers; returns the previous ones for ``restore``."""
        return {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def restore(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            # Ctrl-C again means "out now". A repeated SIGTERM does not: SLURM signals every process and
            # torchrun forwards the signal too, so one job cancellation can arrive twice.
            if signum == signal.SIGINT and time.monotonic() - self._first_signal_time > 1.0:
                raise KeyboardInterrupt
            return
        self.requested = True
        self._first_signal_time = time.monotonic()
        print(f"\nreceived {signal.Signals(signum).name}: finishing this minibatch and writing a snapshot...")

    def __call__(self) -> bool:
        return self.requested


def _probe_dataset(flags: TrainFlags):
    from thygan.data.dataset import ImageFolderDataset

    try:
        dataset = ImageFolderDataset(flags.data, use_labels=False)
        if flags.cond and dataset.labels_available:
            dataset = ImageFolderDataset(flags.data, use_labels=True)
    except UserError as exc:
        raise UserError(f"--data: {exc}") from None
    return dataset


def _torchrun_world_size() -> int | None:
    try:
        return torchrun_world_size()
    except ValueError as exc:
        raise UserError(str(exc)) from None


def reconcile_process_count(flags: TrainFlags) -> TrainFlags:
    """``flags`` with ``gpus`` set: torchrun's process count under torchrun (an explicit --gpus may
    only repeat it, since torchrun, not train.py, starts the processes there), else --gpus or 1."""
    world_size = _torchrun_world_size()
    if world_size is None:
        return flags if flags.gpus is not None else dataclasses.replace(flags, gpus=1)
    if flags.gpus is not None and flags.gpus != world_size:
        raise UserError(f"--gpus={flags.gpus} disagrees with torchrun's WORLD_SIZE={world_size}; under torchrun "
                        f"leave --gpus out (or pass --gpus={world_size})")
    return dataclasses.replace(flags, gpus=world_size)


def _note(message: str) -> None:
    if is_first_process():  # under torchrun every process resolves the options: only rank 0 speaks
        print(f"note: {message}")


def resolve_options(flags: TrainFlags) -> tuple[TrainingOptions, str]:
    from thygan.stylegan.presets import PRESETS

    flags = reconcile_process_count(flags)
    if flags.precision is None and flags.resume not in (None, "noresume"):
        precision = _resumed_precision(resolve_resume_path(flags.resume))
        if precision is not None:
            _note(f"--precision={precision}, as the resumed run (pass --precision to change it)")
            flags = dataclasses.replace(flags, precision=precision)
    device = pick_device(flags.device).type
    opts, desc = resolve_training_options(flags, _probe_dataset(flags), device)
    if device == "cpu" and flags.gpus > 1:
        _note(f"{flags.gpus} processes on CPU use the gloo backend")
    opts.metrics = _resolve_metrics(flags.metrics, flags.cfg)
    if flags.tick is None and PRESETS.get(flags.cfg).cpu:
        opts.kimg_per_tick = PRESETS.get(flags.cfg).kimg_per_tick
    if opts.resume:
        opts.resume = str(resolve_resume_path(opts.resume))
        if state_files(opts.resume) is None:
            # Fine-tuning from weights alone, as the reference's --resume: ADA reacts faster, no EMA ramp-up.
            # A snapshot with its training state continues the run instead, with the run's own settings.
            opts.augment.speed_kimg = 100
            opts.ema_rampup = None
    return opts, desc


def _resumed_precision(snapshot: Path) -> str | None:
    """The --precision a thygan snapshot was trained with (None for a reference .pkl or an older file)."""
    if snapshot.suffix == ".pkl":
        return None
    try:
        meta = json.loads(checkpoint_paths(snapshot)[1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # loading the snapshot itself reports what is wrong with it
    precision = (meta.get("training_options") or {}).get("precision") if isinstance(meta, dict) else None
    return precision if precision in PRECISIONS else None


def _resolve_metrics(text: str | None, cfg: str) -> list[str]:
    """The metrics to evaluate at each snapshot, their detectors checked now rather than at the first
    snapshot: a default metric that cannot run is dropped with a note, a requested one is an error."""
    from thygan.metrics.registry import METRICS, unavailable_for_training

    if text is None:
        wanted = default_metrics(cfg)
        problems = unavailable_for_training([m for m in wanted if m in METRICS])
        available = [m for m in wanted if m in METRICS and m not in problems]
        if available != wanted:
            why = "; ".join(problems.values()) or "not registered"
            _note(f"default metrics {', '.join(wanted)} are not available here ({why}); training without "
                  f"them (--metrics=none silences this)")
        return available
    if text.strip().lower() in ("", "none"):
        return []
    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        if name not in METRICS:
            known = ", ".join(METRICS.names()) or "none registered"
            raise UserError(f"--metrics: unknown metric '{name}' (available: {known})")
    problems = unavailable_for_training(names)
    if problems:
        raise UserError(f"--metrics: {next(iter(problems.values()))}")
    return names


# The reference's --resume names. thygan downloads nothing (training machines are often offline, and a
# run should not depend on a CDN), so these only let the error say what to fetch by hand. The URLs are
# those of the reference's train.py resume_specs; the other names have no URL on record here.
_REFERENCE_NETS = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/"
REFERENCE_RESUME_URLS: dict[str, str | None] = {
    "ffhq256": _REFERENCE_NETS + "ffhq-res256-mirror-paper256-noaug.pkl",
    "ffhq512": _REFERENCE_NETS + "ffhq-res512-mirror-stylegan2-noaug.pkl",
    "ffhq1024": _REFERENCE_NETS + "ffhq-res1024-mirror-stylegan2-noaug.pkl",
    "celebahq256": _REFERENCE_NETS + "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
    "lsundog256": _REFERENCE_NETS + "lsundog-res256-paper256-kimg100000-noaug.pkl",
    **dict.fromkeys(["afhqcat512", "afhqdog512", "afhqwild512", "brecahad512", "metfaces1024"]),
}


def _refuse_download(path: str) -> None:
    """A reference network name or a URL given to --resume: say how to get the file instead."""
    if path.startswith(("http://", "https://")):
        raise UserError(f"--resume: thygan does not download; fetch {path} yourself and pass the local path of "
                        "the .pkl")
    if path in REFERENCE_RESUME_URLS:
        url = REFERENCE_RESUME_URLS[path]
        source = url or "the pretrained networks of NVlabs' stylegan2-ada-pytorch"
        raise UserError(f"--resume: '{path}' is a reference network and thygan does not download; fetch it from "
                        f"{source} and pass the local path of the .pkl")


def resolve_resume_path(path: str) -> Path:
    """A run folder means its latest snapshot; files are taken as they are."""
    candidate = Path(path)
    if not candidate.exists():
        _refuse_download(path)
    if candidate.is_dir():
        latest = latest_snapshot(candidate)
        if latest is None:
            raise UserError(f"--resume: {path} holds no network-snapshot-*.safetensors")
        return latest
    if not candidate.exists() and not candidate.with_suffix(".safetensors").exists():
        raise UserError(f"--resume: {path} does not exist")
    return candidate


def launch_training(flags: TrainFlags, *, outdir: str, dry_run: bool) -> None:
    opts, desc = resolve_options(flags)
    if is_first_process():
        _print_summary(opts, outdir, desc)
        if dry_run:
            print("Dry run; exiting.")
    if dry_run:
        return

    def prepare() -> Path:  # rank 0 only
        run_dir = _new_run(outdir, desc, opts)
        print(f"Run folder: {run_dir}")
        return run_dir

    launch(prepare=prepare, work=train_in_run_folder, processes=opts.num_gpus,
           device_type="cuda" if opts.device.startswith("cuda") else "cpu")


def _new_run(outdir: str, desc: str, opts: TrainingOptions) -> Path:
    run_dir = new_run_dir(outdir, desc)
    write_options(run_dir, options_to_json(opts), name=OPTIONS_FILE)
    return run_dir


def _print_summary(opts: TrainingOptions, outdir: str, desc: str) -> None:
    print("Training options:")
    print(options_to_json(opts), end="")
    print(f"Output directory:   {outdir}/<id>-{desc}")
    print(f"Training data:      {opts.data.path} ({opts.data.resolution}px, "
          f"{opts.data.label_dim} classes{', mirrored' if opts.data.xflip else ''})")
    print(f"Training duration:  {opts.total_kimg:g} kimg")
    print(f"Number of GPUs:     {opts.num_gpus}  (device {opts.device}; batch {opts.batch_size} = "
          f"{opts.num_gpus} x {opts.batch_size // opts.num_gpus} per process in passes of {opts.batch_gpu})")


def train_in_run_folder(run_dir: Path) -> None:
    """What every training process runs (the launcher has joined it to the others): read the run's
    options and train; rank 0's output is also teed to the run's log.txt."""
    from thygan.stylegan.training_loop import training_loop

    opts = options_from_dict(read_options(run_dir, name=OPTIONS_FILE))
    info = distributed.process_info()
    if opts.device == "cuda":
        opts.device = f"cuda:{info.local_rank}"
    stop = StopFlag()
    previous = stop.install()
    try:
        if info.rank == 0:
            with tee_to_log(run_dir):
                training_loop(opts, run_dir, stop_requested=stop)
        else:
            training_loop(opts, run_dir, stop_requested=stop)
    finally:
        StopFlag.restore(previous)
