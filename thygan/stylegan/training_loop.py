"""The StyleGAN2-ADA training loop, readable top to bottom: set up, resume, then per minibatch run the
phases (G main, G path-length, D main, D R1) with lazy regularization, update G_ema and the ADA
probability, and at each tick report, save grids and snapshots.

What differs from the reference on purpose:
- Randomness is a function of (seed, minibatch, phase, chunk): every chunk of the global batch
  reseeds torch's generator before its losses run, so a run is reproduced exactly by resuming it,
  and N processes compute what one process computes with gradient accumulation.
- Gradient accumulation averages over rounds (the reference sums them); with Adam this only
  changes the effective epsilon, and it makes accumulation equal a larger batch.
- Snapshots hold everything needed to continue (optimizers, augment p, pl_mean, counters).
"""

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import torch

from thygan.metrics.evaluate import Detectors, MetricOptions
from thygan.metrics.registry import run_metric_for_training
from thygan.runs import open_tensorboard
from thygan.stylegan.augment import build_augment_pipe as build_pipe
from thygan.stylegan.loss import StyleGAN2Loss
from thygan.stylegan.minibatches import label_table_of, minibatch_loader, open_dataset
from thygan.stylegan.networks import Discriminator, Generator
from thygan.stylegan.progress_grids import GridSetup, save_grid
from thygan.stylegan.snapshot import Progress, resume_training, save_snapshot
from thygan.stylegan.summary import format_parameter_table
from thygan.stylegan.tick_report import append_stats, tick_line
from thygan.stylegan.training_options import AugmentOptions, TrainingOptions
from torch_utils import distributed
from torch_utils.ops.impl_report import describe_op_paths
from torch_utils.training_stats import StatsAccumulator


@dataclass
class Phase:
    name: str                    # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    module: torch.nn.Module      # the network this phase updates
    opt: torch.optim.Optimizer   # shared by the main and reg phase of one network
    interval: int                # run when batch_idx % interval == 0


def derive_seed(*numbers: int) -> int:
    """A well-mixed 63-bit seed from a tuple of non-negative integers."""
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(2, np.uint64)[0] >> 1)


def build_phases(G, D, opts: TrainingOptions) -> list[Phase]:
    """Adam per network, with lr and betas rescaled for lazy regularization (paper, appendix B)."""
    phases = []
    for prefix, module, reg_interval in [("G", G, opts.G_reg_interval), ("D", D, opts.D_reg_interval)]:
        ratio = reg_interval / (reg_interval + 1) if reg_interval else 1
        opt = torch.optim.Adam(module.parameters(), lr=opts.lrate * ratio,
                               betas=[beta**ratio for beta in opts.betas], eps=opts.eps)
        if reg_interval:
            phases += [Phase(prefix + "main", module, opt, 1), Phase(prefix + "reg", module, opt, reg_interval)]
        else:
            phases += [Phase(prefix + "both", module, opt, 1)]
    return phases


def update_ema(G_ema, G, *, opts: TrainingOptions, cur_nimg: int) -> None:
    """G_ema <- lerp(G, G_ema, beta) with the half-life in kimg (ramped up early in training)."""
    ema_nimg = opts.ema_kimg * 1000
    if opts.ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * opts.ema_rampup)
    beta = 0.5 ** (opts.batch_size / max(ema_nimg, 1e-8))
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)


def sample_gen_labels(label_table: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Labels for fakes drawn from the training set's labels, so fakes follow its class balance."""
    idx = torch.randint(len(label_table), [count], generator=generator)
    return label_table[idx]


def step_phases(phases, loss, opts: TrainingOptions, real_img, real_c, label_table, progress: Progress,
                stats: StatsAccumulator, ada_stats: StatsAccumulator, info, device) -> None:
    """One minibatch: every due phase accumulates over this process's chunks, then all-reduces and steps."""
    per_process = opts.batch_size // info.world_size
    rounds = per_process // opts.batch_gpu
    real_chunks = list(zip(real_img.split(opts.batch_gpu), real_c.split(opts.batch_gpu)))
    for phase_idx, phase in enumerate(phases):
        if progress.batch_idx % phase.interval != 0:
            continue
        latent_gen = torch.Generator().manual_seed(derive_seed(opts.random_seed, progress.batch_idx, phase_idx, 0))
        gen_z = torch.randn([opts.batch_size, opts.G_kwargs["z_dim"]], generator=latent_gen)
        gen_c = sample_gen_labels(label_table, opts.batch_size, latent_gen)
        own = slice(info.rank * per_process, (info.rank + 1) * per_process)
        # non_blocking: a plain host-to-device copy waits for the device's queue to drain.
        z_chunks = gen_z[own].to(device, non_blocking=True).split(opts.batch_gpu)
        c_chunks = gen_c[own].to(device, non_blocking=True).split(opts.batch_gpu)
        phase.module.requires_grad_(True)
        phase.opt.zero_grad(set_to_none=True)
        for round_idx, ((img, c), z, gc) in enumerate(zip(real_chunks, z_chunks, c_chunks)):
            torch.manual_seed(derive_seed(opts.random_seed, progress.batch_idx, phase_idx, 1 + info.rank * rounds
                                          + round_idx))
            phase_stats = loss.accumulate_gradients(phase.name, img, c, z, gc, gain=phase.interval / rounds)
            stats.add_all(phase_stats)
            if "Loss/signs/real" in phase_stats:
                ada_stats.add("Loss/signs/real", phase_stats["Loss/signs/real"])
        phase.module.requires_grad_(False)
        loss.finish_phase(distributed.all_reduce_sum_)
        _average_gradients(phase.module)
        phase.opt.step()


def _average_gradients(module: torch.nn.Module) -> None:
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    if distributed.is_initialized():
        flat = torch.cat([p.grad.flatten() for p in params])
        distributed.all_reduce_mean_(flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.reshape(p.shape))
    for p in params:
        torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


STOP_CHECK_INTERVAL = 16  # minibatches between the processes' agreement on a stop request


def _agreed_stop(requested: bool, batch_idx: int, device: torch.device) -> bool:
    """Whether to stop now. Alone: as soon as asked. Under DDP every process must stop at the same
    minibatch (the final snapshot and metrics are collective), and a signal may reach only some of
    them, so they vote every STOP_CHECK_INTERVAL minibatches, not every step (the vote syncs the host)."""
    if not distributed.is_initialized():
        return requested
    if batch_idx % STOP_CHECK_INTERVAL:
        return False
    votes = distributed.all_reduce_sum_(torch.tensor([float(requested)], device=device))
    return bool(votes.item() > 0)


def adjust_augment_p(augment_pipe, ada_stats: StatsAccumulator, opts: TrainingOptions) -> None:
    """ADA: raise p when D is overconfident on reals (E[sign D(x)] > target), lower it otherwise."""
    signs = ada_stats.reduce().get("Loss/signs/real")
    if signs is None or signs["n"] == 0:
        return
    step = opts.batch_size * opts.augment.interval / (opts.augment.speed_kimg * 1000)
    adjust = np.sign(signs["mean"] - opts.augment.target) * step
    # Stepped on the host in float32, as the buffer would be: the pipe then knows p without a device read.
    augment_pipe.set_p(max(np.float32(augment_pipe.p_value()) + np.float32(adjust), 0))


def build_augment_pipe(options: AugmentOptions, device: torch.device):
    """The ADA pipeline, or None when augmentation is off (reference: only if p > 0 or ADA adjusts it)."""
    if options.mode == "noaug" or (options.p == 0 and options.target is None):
        return None
    pipe = build_pipe(options.pipe).train().requires_grad_(False).to(device)
    pipe.p.copy_(torch.as_tensor(options.p))
    return pipe


def describe_paths(device: torch.device, compile_backend: str | None = None) -> str:
    ops = " ".join(f"{op}={impl}" for op, impl in describe_op_paths(device).items())
    compiled = f"torch.compile({compile_backend}) for Gmain/Dmain, eager for Greg/Dreg" if compile_backend else "eager"
    return f"device {device}; ops: {ops}; step: {compiled}"


def run_metrics(opts: TrainingOptions, G_ema, snapshot_path: Path, run_dir: Path, detectors: Detectors) -> None:
    """Evaluate the requested metrics on G_ema with the run's detectors; each appends to
    metric-<name>.jsonl in the run folder."""
    for name in opts.metrics:
        run_metric_for_training(name, G_ema=G_ema, data=opts.data, snapshot_path=snapshot_path, run_dir=run_dir,
                                device=detectors.options.device, options=detectors.options, detectors=detectors)


def training_loop(opts: TrainingOptions, run_dir: str | Path, *, max_steps: int | None = None,
                  stop_requested=lambda: False) -> Progress:
    """Train until ``opts.total_kimg`` (or ``max_steps`` minibatches, or a stop request)."""
    run_dir = Path(run_dir)
    start_time = time.time()
    device = torch.device(opts.device)
    info = distributed.process_info()
    is_main = info.rank == 0
    torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = opts.allow_tf32
    torch.backends.cudnn.allow_tf32 = opts.allow_tf32

    # Data: every process reads its slice of the same global sequence of minibatches.
    dataset = open_dataset(opts.data, seed=opts.random_seed)
    label_table = label_table_of(dataset)

    # Networks: identical initialisation on every process (same seed).
    torch.manual_seed(opts.random_seed)
    G = Generator(**opts.G_kwargs).train().requires_grad_(False).to(device)
    D = Discriminator(**opts.D_kwargs).train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = build_augment_pipe(opts.augment, device)
    loss = StyleGAN2Loss(G, D, config=opts.loss, augment_pipe=augment_pipe, device=device,
                         compile_backend=opts.compile_backend)
    phases = build_phases(G, D, opts)
    progress = Progress()
    ada_stats = StatsAccumulator(device)
    if opts.resume:
        progress = resume_training(opts.resume, G=G, D=D, G_ema=G_ema, phases=phases, loss=loss,
                                   augment_pipe=augment_pipe, ada_stats=ada_stats, device=device)
        if is_main:
            print(f"resumed from {opts.resume} at kimg {progress.cur_nimg / 1000:.1f}")
    if is_main:
        print(format_parameter_table({"G": G, "D": D}))
        print(describe_paths(device, opts.compile_backend))

    grid = GridSetup.from_dataset(dataset, device=device, seed=opts.random_seed)
    if is_main and progress.cur_nimg == 0:
        save_grid(run_dir / "reals.png", grid.reals)
        save_grid(run_dir / "fakes_init.png", grid.fakes(G_ema))

    loader = minibatch_loader(dataset, opts, info, start_batch=progress.batch_idx, device=device)
    stats = StatsAccumulator(device)
    tensorboard = open_tensorboard(run_dir) if is_main else None
    detectors = Detectors(MetricOptions(device=str(device)), flags=False)  # loaded at the first metric, kept
    tick_start_time = time.time()
    steps_done = 0
    if is_main:
        print(f"training for {opts.total_kimg} kimg...")

    while True:
        real_img, real_c = next(loader)
        step_phases(phases, loss, opts, real_img, real_c, label_table, progress, stats, ada_stats, info, device)
        update_ema(G_ema, G, opts=opts, cur_nimg=progress.cur_nimg)
        progress.cur_nimg += opts.batch_size
        progress.batch_idx += 1
        steps_done += 1
        if augment_pipe is not None and opts.augment.target is not None \
                and progress.batch_idx % opts.augment.interval == 0:
            adjust_augment_p(augment_pipe, ada_stats, opts)

        done = progress.cur_nimg >= opts.total_kimg * 1000 or (max_steps is not None and steps_done >= max_steps)
        stop = _agreed_stop(stop_requested(), progress.batch_idx, device)
        tick_due = progress.cur_nimg >= progress.tick_start_nimg + opts.kimg_per_tick * 1000
        if not (done or stop or tick_due or progress.tick == 0):  # tick 0 right after the first step, as the reference
            continue

        # Tick: report, then grids, snapshots and metrics.
        tick_end_time = time.time()
        tick_stats = stats.reduce()
        tick_kimg = (progress.cur_nimg - progress.tick_start_nimg) / 1000
        timing = {"sec_per_tick": tick_end_time - tick_start_time,
                  "sec_per_kimg": (tick_end_time - tick_start_time) / max(tick_kimg, 1e-8),
                  "total_sec": tick_end_time - start_time,
                  "cpumem_gb": psutil.Process().memory_info().rss / 2**30,
                  "gpumem_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0}
        if device.type == "cuda":  # per-tick peak, as the reference: the next tick starts from what is in use now
            torch.cuda.reset_peak_memory_stats(device)
        p = augment_pipe.p_value() if augment_pipe is not None else 0.0
        if is_main:
            print(tick_line(progress, timing, p, tick_stats))
            append_stats(run_dir, progress, timing, p, tick_stats, tensorboard)
        finished_tick = progress.tick
        progress.tick += 1  # the saved state is "after this tick", so a resumed run goes on with the next one
        progress.tick_start_nimg = progress.cur_nimg
        if is_main and (done or finished_tick % opts.image_snapshot_ticks == 0):
            save_grid(run_dir / f"fakes{progress.cur_nimg // 1000:06d}.png", grid.fakes(G_ema))
        if done or stop or finished_tick % opts.network_snapshot_ticks == 0:
            if is_main:
                path = save_snapshot(run_dir, opts=opts, G=G, D=D, G_ema=G_ema, phases=phases, loss=loss,
                                     augment_pipe=augment_pipe, progress=progress, ada_stats=ada_stats,
                                     class_names=dataset.class_names)
                if opts.metrics_at_start or finished_tick > 0 or done:
                    run_metrics(opts, G_ema, path, run_dir, detectors)
            distributed.barrier()
        tick_start_time = time.time()
        if done or stop:
            break

    if tensorboard is not None:
        tensorboard.close()
    if is_main:
        print("stopped on request; the last snapshot continues the run with --resume" if stop else "done.")
    return progress

