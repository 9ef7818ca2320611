"""``thygan translate train``: the CycleGAN / pix2pix training loop, top to bottom.

Set up (options, run folder, data, networks), resume from the newest snapshot of the run folder if
there is one, then per epoch: set the learning rate, one pass over the data, a loss line (log.txt,
stats.jsonl, TensorBoard), a progress grid and HTML page, and a snapshot pair (thygan.runs): the
user-facing ``translate-snapshot-NNNNNN`` (all networks; kept every ``save_epoch_freq`` epochs and at
the end) and the ``training-state`` that resumes exactly (optimizers, image pools, RNG states).

Under torchrun or in spawned processes (``launch_training``, through torch_utils.launch) each process
takes every world_size-th item of the epoch's order and gradients are averaged over processes after
each backward pass; rank 0 writes. Gradients are reduced by hand rather than through
DistributedDataParallel because CycleGAN calls each generator several times per step, which DDP's
one-forward-per-backward bookkeeping does not allow.
"""

import functools
import json
import time
from pathlib import Path

import torch

from dnnlib.duration import format_duration
from thygan import runs
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.checkpoint import load_checkpoint, save_checkpoint
from thygan.progress import progress
from thygan.translate.data import Preprocess, TranslationDataset
from thygan.translate.models import CycleGANModel, Pix2PixModel
from thygan.translate.networks import TRANSLATE_NETWORKS, build_discriminator, build_generator, init_weights
from thygan.translate.options import TranslateOptions, resolve_options
from thygan.translate.schedulers import lr_factor, set_lr
from thygan.translate.training_pages import display_batch, write_epoch_page
from torch_utils import distributed
from torch_utils.launch import launch

NAMES = runs.SnapshotNames(snapshot="translate-snapshot", state="training-state")
NUM_DISPLAY = 4  # fixed images shown in each epoch's grid


def build_networks(opts: TranslateOptions, *, seed: int) -> dict[str, torch.nn.Module]:
    """G_A, G_B, D_A, D_B (cycle_gan) or G, D (pix2pix), initialised from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    G_kwargs = dict(ngf=opts.ngf, norm=opts.norm, use_dropout=not opts.no_dropout)
    D_kwargs = dict(ndf=opts.ndf, n_layers_D=opts.n_layers_D, norm=opts.norm)
    if opts.model == "cycle_gan":
        nets = {"G_A": build_generator(opts.netG, input_nc=opts.input_nc, output_nc=opts.output_nc, **G_kwargs),
                "G_B": build_generator(opts.netG, input_nc=opts.output_nc, output_nc=opts.input_nc, **G_kwargs),
                "D_A": build_discriminator(opts.netD, input_nc=opts.output_nc, **D_kwargs),
                "D_B": build_discriminator(opts.netD, input_nc=opts.input_nc, **D_kwargs)}
    else:
        nets = {"G": build_generator(opts.netG, input_nc=opts.input_nc, output_nc=opts.output_nc, **G_kwargs),
                "D": build_discriminator(opts.netD, input_nc=opts.input_nc + opts.output_nc, **D_kwargs)}
    for net in nets.values():
        init_weights(net, init_type=opts.init_type, init_gain=opts.init_gain, generator=gen)
    return nets


def make_dataset(opts: TranslateOptions) -> TranslationDataset:
    pre = Preprocess(preprocess=opts.preprocess, load_size=opts.load_size, crop_size=opts.crop_size,
                     no_flip=opts.no_flip)
    return TranslationDataset(opts.dataroot, dataset_mode=opts.dataset_mode, phase=opts.phase,
                              direction=opts.direction, preprocess=pre, input_nc=opts.input_nc,
                              output_nc=opts.output_nc, serial_batches=opts.serial_batches,
                              max_dataset_size=opts.max_dataset_size, mask_types=opts.mask_types, seed=opts.seed)


def epoch_order(size: int, epoch: int, *, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> list[int]:
    """This process's item indices for ``epoch``: a seeded permutation (or 0..size-1), every world_size-th."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist() \
        if shuffle else list(range(size))
    return order[rank::world_size]


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def prepare_run_dir(opts: TranslateOptions) -> Path:
    """Check the options and data, then make the numbered run folder with its options.json."""
    opts = resolve_options(opts)
    make_dataset(opts)  # bad data makes no folder
    run_dir = runs.new_run_dir(opts.outdir, opts.name)
    runs.write_options(run_dir, opts.to_dict())
    return run_dir


def _work(run_dir: str, verbose: bool = True) -> None:
    training_loop(TranslateOptions(), run_dir=run_dir, verbose=verbose)


def launch_training(opts: TranslateOptions, *, resume: str | Path | None = None, gpus: int = 1,
                    verbose: bool = True) -> Path:
    """Train in this process, in ``gpus`` spawned processes (DDP-style, gloo on CPU / nccl on CUDA) or in
    each process torchrun started, through torch_utils.launch; returns the run folder."""
    device_type = pick_device(opts.device).type
    prepare = (lambda: str(resume)) if resume is not None else (lambda: str(prepare_run_dir(opts)))
    run_dir, _ = launch(prepare=prepare, work=functools.partial(_work, verbose=verbose), processes=gpus,
                        device_type=device_type)
    return Path(run_dir)


def training_loop(opts: TranslateOptions, *, run_dir: str | Path | None = None,
                  stop_after_epochs: int | None = None, verbose: bool = True) -> Path:
    """Train (or resume, when ``run_dir`` holds a snapshot) and return the run folder.

    Args:
        opts: The options (resolved here; a resumed run uses the options saved in its folder).
        run_dir: An existing run folder to resume; None makes the next numbered one under ``opts.outdir``.
        stop_after_epochs: Stop after this many epochs of this call (the run stays resumable).
        verbose: Progress bars.
    """
    proc = distributed.process_info()
    if run_dir is not None:
        run_dir = Path(run_dir)
        opts = TranslateOptions.from_dict(runs.read_options(run_dir))
    opts = resolve_options(opts)
    device = pick_device(opts.device)
    if device.type == "cuda":
        device = torch.device("cuda", proc.local_rank)
    dataset = make_dataset(opts)
    if run_dir is None:
        if proc.world_size > 1:
            raise UserError("a multi-process run needs its folder made first (launch_training does that)")
        run_dir = prepare_run_dir(opts)
    torch.manual_seed(opts.seed + proc.rank)
    nets = build_networks(opts, seed=opts.seed)
    for net in nets.values():
        net.to(device).train()
    common = dict(lr=opts.lr, beta1=opts.beta1, gan_mode=opts.gan_mode, lambda_gp=opts.lambda_gp)
    if opts.model == "cycle_gan":
        model = CycleGANModel(nets, lambda_A=opts.lambda_A, lambda_B=opts.lambda_B,
                              lambda_identity=opts.lambda_identity, pool_size=opts.pool_size,
                              seed=opts.seed + 7919 * proc.rank, **common)
    else:
        model = Pix2PixModel(nets, lambda_L1=opts.lambda_L1, **common)

    start_epoch = 0
    resumed = runs.resume_latest(run_dir, names=NAMES, optimizers={"G": model.opt_G, "D": model.opt_D})
    if resumed is not None:
        last, counters, tensors = resumed
        loaded = load_checkpoint(last, registry=TRANSLATE_NETWORKS).networks
        for name, net in nets.items():
            net.load_state_dict(loaded[name].state_dict())
        for name, pool in model.pools().items():
            pool.load_state_dict(tensors[name], device=device)
        _set_rng_state(tensors[f"rng{proc.rank}"] if f"rng{proc.rank}" in tensors else tensors["rng0"], device)
        start_epoch = int(counters["epoch"])
        print(f"Resuming {run_dir} after epoch {start_epoch}")

    total_epochs = opts.n_epochs + opts.n_epochs_decay
    end_epoch = total_epochs if stop_after_epochs is None else min(total_epochs, start_epoch + stop_after_epochs)
    is_main = proc.rank == 0
    log = runs.RunLog(run_dir / "log.txt", enabled=is_main)
    if is_main and start_epoch == 0:
        log(json.dumps(opts.to_dict(), indent=2))
    display = display_batch(dataset, NUM_DISPLAY, device)
    writer = runs.open_tensorboard(run_dir) if is_main else None
    step = start_epoch * len(dataset)
    start_time = time.time()
    for epoch in range(start_epoch, end_epoch):
        lr = opts.lr * lr_factor(epoch, lr_policy=opts.lr_policy, n_epochs=opts.n_epochs,
                                 n_epochs_decay=opts.n_epochs_decay, epoch_count=opts.epoch_count,
                                 lr_decay_iters=opts.lr_decay_iters)
        set_lr(model.opt_G, lr)
        set_lr(model.opt_D, lr)
        dataset.set_epoch(epoch)
        order = epoch_order(len(dataset), epoch, seed=opts.seed, shuffle=not opts.serial_batches,
                            rank=proc.rank, world_size=proc.world_size)
        loader = torch.utils.data.DataLoader(dataset, batch_size=opts.batch_size, sampler=order,
                                             num_workers=opts.num_threads)
        sums: dict[str, float] = {}
        epoch_start = time.time()
        bar = progress(loader, desc=f"epoch {epoch + 1}/{total_epochs}", unit="batch", leave=False,
                       disable=not (verbose and is_main))
        for batch in bar:
            real_A, real_B = batch["A"].to(device), batch["B"].to(device)
            losses = model.step(real_A, real_B)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v * len(real_A)
            step += len(real_A) * proc.world_size
            if writer is not None and opts.print_freq and step % opts.print_freq < len(real_A) * proc.world_size:
                for k, v in losses.items():
                    writer.add_scalar(f"Loss/{k}", v, step)
        count = max(1, len(order))
        means = {k: v / count for k, v in sums.items()}
        if is_main:
            seconds = time.time() - epoch_start
            log(f"epoch {epoch + 1:<4d} iters {step:<8d} time {format_duration(time.time() - start_time):<9s} "
                f"sec/epoch {seconds:<7.1f} lr {lr:.7f}  "
                + "  ".join(f"{k} {v:.3f}" for k, v in means.items()))
            runs.append_line(run_dir / runs.STATS_FILE, json.dumps(
                {"epoch": epoch + 1, "iters": step, "lr": lr, "sec_per_epoch": seconds, **means}))
            images = write_epoch_page(run_dir, epoch + 1, model, display, masks_on_a=opts.mask_types > 0)
            runs.write_epoch_scalars(writer, {**means, "lr": lr}, epoch + 1, images={"progress": images})
        _save(run_dir, epoch + 1, opts, model, device, is_main)
    if writer is not None:
        writer.close()
    return run_dir


def _save(run_dir: Path, epoch: int, opts: TranslateOptions, model, device: torch.device, is_main: bool) -> None:
    """The epoch's snapshot pair; the previous epoch's snapshot goes unless its epoch is a multiple of
    save_epoch_freq (the last epoch's always stays: nothing comes after it)."""
    rngs = [_rng_state(device)]
    if distributed.is_initialized():
        rngs = _gather_rng(rngs[0])
    if not is_main:
        return
    tensors = {name: pool.state_dict() for name, pool in model.pools().items()}
    tensors.update({f"rng{rank}": state for rank, state in enumerate(rngs)})
    extra = {"model": opts.model, "netG": opts.netG, "direction": opts.direction, "epoch": epoch,
             "mask_types": opts.mask_types}
    runs.write_pair(run_dir, epoch, names=NAMES,
                    write_state=lambda stem: runs.save_training_state(
                        stem, optimizers={"G": model.opt_G, "D": model.opt_D}, tensors=tensors,
                        counters={"epoch": epoch}),
                    write_snapshot=lambda stem: save_checkpoint(
                        stem, networks=model.nets, registry=TRANSLATE_NETWORKS, training_options=opts.to_dict(),
                        extra=extra))
    if epoch > 1 and (epoch - 1) % opts.save_epoch_freq != 0:  # the previous epoch's was only for resuming
        stem = NAMES.snapshot_stem(run_dir, epoch - 1)
        for path in (stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")):
            path.unlink(missing_ok=True)


def _gather_rng(state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    import torch.distributed as dist

    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, {k: v.cpu() for k, v in state.items()})
    return out
