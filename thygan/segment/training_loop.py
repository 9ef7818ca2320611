"""HoVer-Net training, top to bottom: the reference's two phases (``models/hovernet/opt.py``).

Phase 1 trains the decoders with the encoder frozen, phase 2 everything; each phase starts a fresh Adam
(lr 1e-4, betas 0.9/0.999) stepped down 10x every ``lr_step`` epochs (the reference's StepLR(25)). Loss:
the reference's (thygan.segment.loss): MONAI's ``HoVerNetLoss`` with every weight 1 (MONAI weights the HV
MSE by 2) and the reference's unnormalised 5x5 gradient kernels in the MSGE term (``msge_kernel``
'reference'); 'monai' keeps MONAI's normalised Sobel kernels, which runs made before the option used.

Each epoch: one fixed-width log line (stdout + log.txt), the same numbers in stats.jsonl and TensorBoard,
an overlay PNG of predictions on a few images, and a snapshot pair in the run folder (thygan.runs:
``hovernet-snapshot-NNNNNN`` for users, ``training-state-NNNNNN`` to resume exactly, RNG included).

Several processes (``launch_training``: ``--gpus N`` spawned, or torchrun; torch_utils.launch): the global
batch stays what ``--batch`` says; each process takes every world_size-th window of each global batch
(``epoch_indices``), DistributedDataParallel averages the gradients, rank 0 alone writes. On CUDA the
batch norms become SyncBatchNorm so their statistics cover the global batch as in one process; on CPU
(gloo; torch's SyncBatchNorm is CUDA-only) each process normalises over its own share. The loss is not a
mean over windows (MONAI's Dice pools the batch, the gradient MSE is normalised by the batch's nuclear
pixels), so N processes match one process closely but not to rounding.
"""

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dnnlib.duration import format_duration
from thygan import runs
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.checkpoint import load_checkpoint, save_checkpoint
from thygan.segment.data import parse_type_map, read_dataset
from thygan.segment.folds import fold_names, select
from thygan.segment.loss import MSGE_KERNELS, hovernet_loss
from thygan.segment.networks import MODES, NETWORKS, HoVerNet
from thygan.segment.overlay import draw_overlay, read_type_info
from thygan.segment.patches import PatchDataset
from thygan.segment.predict import segment_image
from thygan.segment.stats import instance_stats
from thygan.segment.weights import load_encoder
from torch_utils import distributed
from torch_utils.launch import launch, torchrun_world_size

NAMES = runs.SnapshotNames(snapshot="hovernet-snapshot", state="training-state")


@dataclass
class SegmentOptions:
    """Everything a run needs; saved as options.json before work starts."""

    data: str = ""                      # training data folder (see thygan.segment.data)
    valid: str | None = None            # held-out data scored each epoch (PQ, AJI, Dice), or None
    outdir: str = "runs-segment"        # parent of the numbered run folders
    name: str = "hovernet"              # run folder suffix
    mode: str = "original"              # 'original' (270 -> 80) or 'fast' (256 -> 164)
    nr_types: int = 0                   # nucleus types incl. background; 0 = segmentation only
    type_map: str | None = None         # type ids renumbered on reading: 'consep' or 'A=B,C=D'
    width: float = 1.0                  # channel multiplier (1 = reference)
    blocks: list[int] = field(default_factory=lambda: [3, 4, 6, 3])  # residual units per encoder group
    input_size: int | None = None       # px; None = the mode's (270 / 256)
    epochs: list[int] = field(default_factory=lambda: [50, 50])       # phase 1 (frozen encoder), phase 2
    batch: list[int] = field(default_factory=lambda: [16, 4])         # batch size per phase
    lr: float = 1e-4                    # Adam learning rate at the start of each phase
    lr_step: int = 25                   # epochs between 10x decays
    patches_per_epoch: int | None = None  # random windows per epoch; None = one per output-size grid cell
    pretrained: str | None = None       # ImageNet encoder file, or None
    pretrained_layout: str = "preact"   # 'preact' (hover_net .tar) or 'torchvision'
    type_info: str | None = None        # type_info.json for overlay colours
    seed: int = 10                      # the reference's seed
    workers: int = 0                    # data loader processes
    device: str = "auto"                # 'auto', 'cpu', 'cuda', 'cuda:1', ...
    overlay_images: int = 2             # images drawn in each epoch's overlay PNG
    recipe: str | None = None           # segmentation recipe JSON: synthetic image + mask pairs added to data
    recipe_cache: str | None = None     # the recipe's content-keyed cache; None = {outdir}/synthetic_cache
    train_fold: str | None = None       # fold file (thygan.segment.folds): train on its 'train' images of data only
    msge_kernel: str = "reference"      # HV gradient kernels of the MSGE loss term: 'reference' or 'monai'

    @classmethod
    def from_dict(cls, data: dict) -> "SegmentOptions":
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise UserError(f"options: unknown keys {sorted(unknown)}")
        # options.json written before msge_kernel existed: those runs trained with MONAI's kernels
        return cls(**{"msge_kernel": "monai", **data})

    def resolved(self) -> "SegmentOptions":
        if self.mode not in MODES:
            raise UserError(f"--mode: expected one of {sorted(MODES)}, got {self.mode!r}")
        if self.msge_kernel not in MSGE_KERNELS:
            raise UserError(f"--msge-kernel: expected one of {', '.join(MSGE_KERNELS)}, got {self.msge_kernel!r}")
        return dataclasses.replace(self, input_size=self.input_size or MODES[self.mode]["input"])


def recipe_cache(opts: SegmentOptions) -> Path:
    return Path(opts.recipe_cache or Path(opts.outdir) / "synthetic_cache")


def build_network(opts: SegmentOptions) -> HoVerNet:
    return HoVerNet(mode=opts.mode, nr_types=opts.nr_types, width=opts.width, blocks=tuple(opts.blocks))


def phase_of(epoch: int, epochs: list[int]) -> tuple[int, int]:
    """(phase index 0/1, epoch within the phase) of a 0-based global epoch."""
    return (0, epoch) if epoch < epochs[0] else (1, epoch - epochs[0])


def epoch_indices(length: int, batch: int, *, rank: int = 0, world_size: int = 1) -> list[int]:
    """This process's window indices of an epoch, in order.

    The epoch is whole global batches of ``batch`` windows (the last partial one dropped, unless it is the
    only one); process ``rank`` takes every world_size-th, so that step s of all processes together covers
    windows s * batch ... (s + 1) * batch - 1, the batch one process would train on.
    """
    used = length if length <= batch else length // batch * batch
    return list(range(used))[rank::world_size]


def check_world(opts: SegmentOptions, length: int | None, world_size: int) -> None:
    """Refuse a split where processes would get unequal shares (they would wait on each other forever);
    ``length`` (windows per epoch) None checks the batch sizes only."""
    if world_size <= 1:
        return
    for phase, batch in enumerate(opts.batch):
        if batch % world_size:
            raise UserError(f"--batch: {batch} (phase {phase + 1}) does not split over {world_size} processes; "
                            f"use a multiple of {world_size}")
        if length is not None and length < batch:
            raise UserError(f"--patches-per-epoch: {length} windows per epoch are fewer than the batch {batch} "
                            f"(phase {phase + 1}) on {world_size} processes")


def prepare_run_dir(opts: SegmentOptions) -> Path:
    """Check the options and data, then make the numbered run folder with its options.json."""
    opts = opts.resolved()
    read_dataset(opts.data, nr_types=opts.nr_types, type_map=parse_type_map(opts.type_map))  # bad data: no folder
    run_dir = runs.new_run_dir(opts.outdir, opts.name)
    runs.write_options(run_dir, dataclasses.asdict(opts))
    return run_dir


def _work(run_dir: str, stop_after_epochs: int | None = None, verbose: bool = True) -> None:
    training_loop(SegmentOptions(), run_dir=run_dir, stop_after_epochs=stop_after_epochs, verbose=verbose)


def launch_training(opts: SegmentOptions, *, resume: str | Path | None = None, gpus: int = 1,
                    stop_after_epochs: int | None = None, verbose: bool = True) -> Path:
    """Train in this process, in ``gpus`` spawned processes (gloo on CPU, nccl on CUDA) or in each process
    torchrun started (torch_utils.launch); returns the run folder."""
    if resume is not None:
        opts = SegmentOptions.from_dict(runs.read_options(resume))
    device_type = pick_device(opts.device).type
    check_world(opts, opts.patches_per_epoch, torchrun_world_size() or gpus)  # before any folder or process
    prepare = (lambda: str(resume)) if resume is not None else (lambda: str(prepare_run_dir(opts)))
    run_dir, _ = launch(prepare=prepare, work=functools.partial(_work, stop_after_epochs=stop_after_epochs,
                                                                verbose=verbose),
                        processes=gpus, device_type=device_type)
    return Path(run_dir)


def _one_hot(x: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(x, n).permute(0, 3, 1, 2).float()


def training_loop(opts: SegmentOptions, *, run_dir: str | Path | None = None, stop_after_epochs: int | None = None,
                  verbose: bool = True) -> Path:
    """Train (or resume the run in ``run_dir``) and return the run folder."""
    from thygan.progress import progress  # tqdm on a terminal, plain lines in logs

    proc = distributed.process_info()
    is_main = proc.rank == 0
    if run_dir is not None:
        run_dir = Path(run_dir)
        opts = SegmentOptions.from_dict(runs.read_options(run_dir))
    opts = opts.resolved()
    device = pick_device(opts.device)
    if device.type == "cuda" and proc.world_size > 1:
        device = torch.device("cuda", proc.local_rank)
    type_map = parse_type_map(opts.type_map)
    samples = read_dataset(opts.data, nr_types=opts.nr_types, type_map=type_map)  # bad data: no run folder
    if opts.train_fold:
        samples = select(samples, fold_names(opts.train_fold), where=opts.train_fold)
    recipe_lines: list[str] = []  # the per-source counts, for log.txt once the run folder exists
    if opts.recipe:
        from thygan.segment.synthetic import synthetic_samples

        if not is_main:
            distributed.barrier()  # rank 0 fills the cache first; the others then find every pair in it
        samples += synthetic_samples(opts.recipe, real_count=len(samples), nr_types=opts.nr_types,
                                     cache_dir=recipe_cache(opts), device=str(device), log=recipe_lines.append)
        if is_main:
            distributed.barrier()
    valid = read_dataset(opts.valid, nr_types=opts.nr_types, type_map=type_map) if opts.valid else []
    torch.manual_seed(opts.seed)  # the same initial weights in every process
    net = build_network(opts)
    if proc.world_size > 1 and device.type == "cuda":
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(device)
    try:
        output_size = net.output_size(opts.input_size)
    except ValueError as exc:
        raise UserError(f"--input-size: {exc}") from None
    if run_dir is None:
        if proc.world_size > 1:
            raise UserError("a multi-process run needs its folder made first (launch_training does that)")
        run_dir = runs.new_run_dir(opts.outdir, opts.name)  # the data was read above: it is usable
        runs.write_options(run_dir, dataclasses.asdict(opts))
    type_info = read_type_info(opts.type_info, opts.nr_types) if opts.nr_types else None
    length = opts.patches_per_epoch or sum(math.ceil(s.inst.shape[0] / output_size) *
                                           math.ceil(s.inst.shape[1] / output_size) for s in samples)
    check_world(opts, length, proc.world_size)
    dataset = PatchDataset(samples, input_size=opts.input_size, output_size=output_size, length=length,
                           seed=opts.seed)
    loss_fn = hovernet_loss(opts.msge_kernel)
    opt = torch.optim.Adam(net.parameters(), lr=opts.lr, betas=(0.9, 0.999))

    start_epoch = 0
    if (resumed := runs.resume_latest(run_dir, names=NAMES, optimizers={"net": opt})) is not None:
        last, counters, tensors = resumed
        net.load_state_dict(load_checkpoint(last, registry=NETWORKS).networks["net"].state_dict())
        torch.set_rng_state(tensors["rng"]["cpu"])
        start_epoch = int(counters["epoch"])
        if is_main:
            print(f"Resuming {run_dir} after epoch {start_epoch}")
    elif opts.pretrained:
        load_encoder(net, opts.pretrained, layout=opts.pretrained_layout)

    total = sum(opts.epochs)
    end_epoch = total if stop_after_epochs is None else min(total, start_epoch + stop_after_epochs)
    log = runs.RunLog(run_dir / "log.txt", enabled=is_main)
    if start_epoch == 0:
        log(json.dumps(dataclasses.asdict(opts), indent=2))
    for line in recipe_lines:
        log(line)
    writer = runs.open_tensorboard(run_dir) if is_main else None
    model, model_phase = net, None  # DistributedDataParallel(net) over several processes, one per phase
    start_time = time.time()
    for epoch in range(start_epoch, end_epoch):
        phase, phase_epoch = phase_of(epoch, opts.epochs)
        if phase == 1 and phase_epoch == 0:
            opt = torch.optim.Adam(net.parameters(), lr=opts.lr, betas=(0.9, 0.999))  # phase 2: fresh Adam
        lr = opts.lr * 0.1 ** (phase_epoch // opts.lr_step)
        for group in opt.param_groups:
            group["lr"] = lr
        for p in net.encoder_parameters():
            p.requires_grad_(phase == 1)
        if proc.world_size > 1 and model_phase != phase:  # DDP reduces the parameters that require grad then
            del model
            model = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None)
            model_phase = phase
        dataset.set_epoch(epoch)
        indices = epoch_indices(len(dataset), opts.batch[phase], rank=proc.rank, world_size=proc.world_size)
        loader = torch.utils.data.DataLoader(dataset, batch_size=opts.batch[phase] // proc.world_size,
                                             sampler=indices, num_workers=opts.workers)
        net.train()
        sums, count, epoch_start = {"loss": 0.0}, 0, time.time()
        for batch in progress(loader, desc=f"epoch {epoch + 1}/{total}", unit="batch", leave=False,
                              disable=not (verbose and is_main)):
            out = model(batch["image"].to(device))
            pred = {"nucleus_prediction": out["np"], "horizontal_vertical": out["hv"]}
            target = {"nucleus_prediction": _one_hot(batch["np"].to(device), 2),
                      "horizontal_vertical": batch["hv"].to(device)}
            if opts.nr_types:
                pred["type_prediction"] = out["tp"]
                target["type_prediction"] = _one_hot(batch["tp"].to(device), opts.nr_types)
            loss = loss_fn(pred, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["loss"] += loss.item() * len(batch["image"])
            count += len(batch["image"])
        totals = distributed.all_reduce_sum_(torch.tensor([sums["loss"], count], dtype=torch.float64, device=device))
        means = {"loss": float(totals[0]) / max(float(totals[1]), 1.0)}
        if not is_main:
            continue
        scores = _validate(net, valid, opts.input_size, output_size, device) if valid else {}
        seconds = time.time() - epoch_start
        elapsed = format_duration(time.time() - start_time)
        log(f"epoch {epoch + 1:<4d} phase {phase + 1}  lr {lr:.0e}  time {elapsed:<9s} "
            f"sec/epoch {seconds:<7.1f} loss {means['loss']:<7.4f}"
            + "".join(f"  {k} {v:.4f}" for k, v in scores.items()))
        runs.append_line(run_dir / runs.STATS_FILE, json.dumps(
            {"epoch": epoch + 1, "phase": phase + 1, "lr": lr, "sec_per_epoch": seconds, **means, **scores}))
        overlay = _overlay(net, valid or samples, opts, output_size, device, type_info,
                           labels_title(opts.valid if valid else opts.data))
        _write_png(run_dir / f"overlay-{epoch + 1:06d}.png", overlay)
        runs.write_epoch_scalars(writer, {**means, **scores, "lr": lr}, epoch + 1, images={"overlay": overlay})
        _save(run_dir, epoch + 1, net, opt, opts, output_size)
    if writer is not None:
        writer.close()
    distributed.barrier()  # the other processes end once rank 0 has written the last snapshot
    return run_dir


def _validate(net, samples, input_size, output_size, device) -> dict[str, float]:
    scores = [instance_stats(s.inst, segment_image(net, s.image, input_size=input_size, output_size=output_size,
                                                   device=device)[0]) for s in samples]
    with np.errstate(all="ignore"):
        return {k: float(np.nanmean([s[k] for s in scores])) for k in ("pq", "aji", "dice")}


def labels_title(data: str | Path) -> str:
    """'pseudo-labels' for a folder ``segment pseudo-labels`` made (it leaves pseudo_labels.json), else 'labels'."""
    return "pseudo-labels" if (Path(data) / "pseudo_labels.json").is_file() else "labels"


def _overlay(net, samples, opts, output_size, device, type_info, labels: str = "labels") -> np.ndarray:
    """One row per image (cropped to a common size) under the titles image | prediction | ``labels``: the image,
    the predicted contours and the label contours drawn on it."""
    from thygan.io.images import image_grid
    from thygan.segment.postproc import instance_records

    rows = []
    for s in samples[:opts.overlay_images]:
        _, records, _ = segment_image(net, s.image, input_size=opts.input_size, output_size=output_size,
                                      device=device)
        rows.append([s.image, draw_overlay(s.image, records, type_info),
                     draw_overlay(s.image, instance_records(s.inst, s.types), type_info)])
    h = min(r[0].shape[0] for r in rows)
    w = min(r[0].shape[1] for r in rows)
    return image_grid(np.array([[p[:h, :w] for p in row] for row in rows]),
                      col_titles=["image", "prediction", labels])


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    from thygan.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _save(run_dir: Path, epoch: int, net, opt, opts: SegmentOptions, output_size: int) -> None:
    extra = {"input_size": opts.input_size, "output_size": output_size, "epoch": epoch, "type_info": opts.type_info}
    runs.write_pair(run_dir, epoch, names=NAMES,
                    write_state=lambda stem: runs.save_training_state(
                        stem, optimizers={"net": opt}, tensors={"rng": {"cpu": torch.get_rng_state()}},
                        counters={"epoch": epoch}),
                    write_snapshot=lambda stem: save_checkpoint(
                        stem, networks={"net": net}, registry=NETWORKS, training_options=dataclasses.asdict(opts),
                        extra=extra))
    previous = NAMES.snapshot_stem(run_dir, epoch - 1)  # keep the newest snapshot only (it carries the run)
    for path in (previous.with_name(previous.name + ".safetensors"), previous.with_name(previous.name + ".json")):
        path.unlink(missing_ok=True)

