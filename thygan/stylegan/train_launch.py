"""Start a training run: resolve options, make the run folder, then run the loop in one process, in
``--gpus`` spawned processes, or in each process torchrun started. SIGINT/SIGTERM end the run with
a final snapshot."""

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import torch

from dnnlib.run_dir import make_run_dir
from dnnlib.tee import Tee
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.stylegan.train_setup import TrainFlags, default_metrics, resolve_training_options
from thygan.stylegan.training_options import TrainingOptions, options_from_dict, options_to_json


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


def resolve_options(flags: TrainFlags) -> tuple[TrainingOptions, str]:
    from thygan.stylegan.presets import PRESETS

    device = pick_device(flags.device).type
    opts, desc = resolve_training_options(flags, _probe_dataset(flags), device)
    if device == "cpu" and flags.gpus > 1:
        print(f"note: --gpus={flags.gpus} on CPU runs {flags.gpus} processes with the gloo backend")
    opts.metrics = _resolve_metrics(flags.metrics, flags.cfg)
    if flags.tick is None and PRESETS.get(flags.cfg).cpu:
        opts.kimg_per_tick = PRESETS.get(flags.cfg).kimg_per_tick
    if opts.resume:
        opts.resume = str(resolve_resume_path(opts.resume))
        from thygan.stylegan.training_state import training_state_files

        if training_state_files(opts.resume) is None:
            # Fine-tuning from weights alone, as the reference's --resume: ADA reacts faster, no EMA ramp-up.
            # A snapshot with its training state continues the run instead, with the run's own settings.
            opts.augment.speed_kimg = 100
            opts.ema_rampup = None
    return opts, desc


def _resolve_metrics(text: str | None, cfg: str) -> list[str]:
    from thygan.metrics.registry import METRICS

    if text is None:
        wanted = default_metrics(cfg)
        available = [m for m in wanted if m in METRICS]
        if available != wanted:
            print(f"note: default metrics {', '.join(wanted)} are not available here; training without them")
        return available
    if text.strip().lower() in ("", "none"):
        return []
    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        if name not in METRICS:
            known = ", ".join(METRICS.names()) or "none registered"
            raise UserError(f"--metrics: unknown metric '{name}' (available: {known})")
    return names


def resolve_resume_path(path: str) -> Path:
    """A run folder means its latest snapshot; files are taken as they are."""
    from thygan.stylegan.training_state import latest_snapshot

    candidate = Path(path)
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
    print("Training options:")
    print(options_to_json(opts), end="")
    print(f"Output directory:   {outdir}/<id>-{desc}")
    print(f"Training data:      {opts.data.path} ({opts.data.resolution}px, "
          f"{opts.data.label_dim} classes{', mirrored' if opts.data.xflip else ''})")
    print(f"Training duration:  {opts.total_kimg:g} kimg")
    print(f"Number of GPUs:     {opts.num_gpus}  (device {opts.device})")
    if dry_run:
        print("Dry run; exiting.")
        return
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        _run_under_torchrun(opts, outdir, desc)
        return
    run_dir = make_run_dir(outdir, desc)
    (run_dir / "training_options.json").write_text(options_to_json(opts))
    print(f"Run folder: {run_dir}")
    if opts.num_gpus == 1:
        run_process(0, 1, run_dir, None)
    else:
        _spawn(opts.num_gpus, run_dir)


def run_process(rank: int, world_size: int, run_dir: Path, init_file: str | None) -> None:
    """Entry point of every training process (also the single-process case)."""
    from thygan.stylegan.training_loop import training_loop
    from torch_utils import distributed

    opts = options_from_dict(json.loads((Path(run_dir) / "training_options.json").read_text()))
    if world_size > 1 and init_file is not None:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
        backend = "nccl" if opts.device == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, init_method=f"file://{init_file}", rank=rank,
                                             world_size=world_size)
    info = distributed.process_info()
    if opts.device == "cuda":
        torch.cuda.set_device(info.local_rank)
        opts.device = f"cuda:{info.local_rank}"
    stop = StopFlag()
    previous = stop.install()
    try:
        if info.rank == 0:
            with Tee(Path(run_dir) / "log.txt"):
                training_loop(opts, run_dir, stop_requested=stop)
        else:
            training_loop(opts, run_dir, stop_requested=stop)
    finally:
        StopFlag.restore(previous)
        if distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _spawn(num_processes: int, run_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.abspath(os.path.join(tmp, ".torch_distributed_init"))
        torch.multiprocessing.spawn(run_process, args=(num_processes, run_dir, init_file), nprocs=num_processes)


def _run_under_torchrun(opts: TrainingOptions, outdir: str, desc: str) -> None:
    from torch_utils import distributed

    info = distributed.init_from_environment(opts.device)
    holder = [None]
    if info.rank == 0:
        run_dir = make_run_dir(outdir, desc)
        (run_dir / "training_options.json").write_text(options_to_json(opts))
        holder[0] = str(run_dir)
    torch.distributed.broadcast_object_list(holder, src=0)
    run_process(info.rank, info.world_size, Path(holder[0]), None)

