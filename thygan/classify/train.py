"""The downstream training loop (the study's dlc_main.py without its bugs), top to bottom:

set up (labels, split, synthetic images, model, Adam, ReduceLROnPlateau), resume, then per epoch:
train over every batch, validate once, log the study's line, step the scheduler on the validation
loss, keep the best model (``vl_{val_loss:.4f}.safetensors``), stop early when the last ``es_pat``
validation losses are all above the best one, save the training state. At the end:
``training_results.json`` and ``Training_Curves.png`` in the run folder.

Unlike the study: the model trains in train mode and validates in eval mode, validation runs once
per epoch (not after every batch), validation crops are deterministic, and every output stays in
the run folder. Each epoch reseeds shuffling, augmentation and dropout from (seed, epoch), so a
resumed run continues exactly as an uninterrupted one would (on the same device).

Multi-GPU: one process per GPU under DDP (``--gpus`` or torchrun); the batch is split between
them, validation is sharded and summed, rank 0 writes every file.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from thygan.classify.augment import train_transform
from thygan.classify.data import (
    EvalDataset,
    ImageItem,
    TrainDataset,
    check_image_sizes,
    class_names_of,
    collate_crops,
    label_counts,
    real_items,
    seed_transform_in_worker,
    synthetic_items,
)
from thygan.classify.models import build_model, save_classifier
from thygan.classify.options import TrainOptions
from thygan.classify.reports import training_curves
from thygan.classify.run_folder import LOG_FILE, load_state, save_state, write_results
from thygan.data.labels import read_labels
from thygan.data.splits import load_split
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.runs import RunLog
from thygan.sources.recipe import read_recipe
from thygan.sources.source import MaterialiseOptions
from torch_utils import distributed


def epoch_line(epoch: int, epochs: int, batches: int, stats: dict[str, float], seconds: float) -> str:
    """The study's per-epoch log line."""
    return (f"[Epoch {epoch}/{epochs}] [Batches: {batches}] [Train Loss: {stats['train_loss']:.4f}] "
            f"[Train Acc: {stats['train_acc']:.4f}] [Val Loss: {stats['val_loss']:.4f}] "
            f"[Val Acc: {stats['val_acc']:.4f}] [Time Taken: {seconds:.2f}]")


def should_stop_early(val_losses: list[float], patience: int) -> bool:
    """The study's rule: stop once the best of the last ``patience`` epochs is worse than the best ever."""
    return len(val_losses) >= patience and min(val_losses[-patience:]) > min(val_losses)


@dataclass
class RunItems:
    """The images of a run: real training images plus the recipe's, validation images, class names."""

    train: list[ImageItem]
    val: list[ImageItem]
    class_names: list[str]
    real_counts: dict[int, int]       # real training images per label
    synthetic_counts: dict[int, int]  # the recipe's images per label (planned, or made)


def prepare_items(opts: TrainOptions, log: Callable[[str], None], *, materialise: bool = True) -> RunItems:
    """Real images of the split plus the recipe's images; everything is checked before any image is made.

    With ``materialise=False`` (dry runs, the launcher's check) the recipe is planned and checked but
    generates nothing; ``synthetic_counts`` then holds the planned counts.
    """
    table = read_labels(opts.labels)
    split = load_split(opts.split_file, table)
    for key in ("train", "val"):
        if key not in split:
            raise UserError(f"--split_file: {opts.split_file} has no '{key}' list (keys: {', '.join(split)})")
    train = real_items(opts.src_dir, table, split["train"], where=f"{opts.split_file} 'train'")
    val = real_items(opts.src_dir, table, split["val"], where=f"{opts.split_file} 'val'")
    check_image_sizes(train + val, opts.crop_size)
    recipe = read_recipe(opts.gan_params, network=opts.gan_network)
    class_names = class_names_of(table)
    if recipe is not None:
        masked = [source for source in recipe.sources if source.yields_masks]
        if masked:  # their images carry no class: label 0 would be a guess
            raise UserError(f"--gan_params: {recipe.source}: {masked[0].describe()} is a segmentation source "
                            f"(image + mask pairs, for `thygan segment train --recipe`), not a classifier one")
        known = {record.label for record in table.records if record.label is not None}
        unknown = sorted(recipe.labels() - known)
        if unknown:
            raise UserError(f"{recipe.source}: class_map label {unknown[0]} is not a label of {opts.labels} "
                            f"(labels: {', '.join(map(str, sorted(known)))})")
    real = label_counts(train)
    log(f"real training images per label: {real}; validation images: {len(val)}")
    if recipe is None:
        return RunItems(train, val, class_names, real, {})
    planned = recipe.plan(real)  # ratios and labels checked, counts known: nothing generated yet
    recipe.check()  # every source's network and classes, before the first image
    recipe.check_crop(opts.crop_size)  # and the crop fits its images (not after generating them)
    if not materialise:
        return RunItems(train, val, class_names, real, planned)
    cache = Path(opts.gan_cache or Path(opts.out_dir) / "gan_cache")
    synthetic = synthetic_items(recipe.materialise(real, MaterialiseOptions(cache, device=_device(opts).type,
                                                                            log=log)))
    made = label_counts(synthetic)
    log(f"synthetic training images per label: {made}")
    return RunItems(train + synthetic, val, class_names, real, made)


def _device(opts: TrainOptions) -> torch.device:
    device = pick_device(opts.device)
    info = distributed.process_info()
    return torch.device("cuda", info.local_rank) if device.type == "cuda" else device


def _train_loader(dataset, opts: TrainOptions, epoch: int, info) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(opts.seed * 100_003 + epoch)
    sampler = None
    if info.world_size > 1:
        sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                                      shuffle=True, seed=opts.seed)
        sampler.set_epoch(epoch)
    if opts.workers == 0:
        dataset.transform.set_random_seed(opts.seed * 100_003 + epoch * 101 + info.rank)
    batch = opts.batch_size // info.world_size
    per_process = -(-len(dataset) // info.world_size)  # DistributedSampler pads to equal shares
    # A last batch of one image cannot train batch norm (no variance): drop only that lone image.
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=sampler is None, sampler=sampler,
                                       num_workers=opts.workers, generator=generator,
                                       worker_init_fn=seed_transform_in_worker,
                                       drop_last=per_process % batch == 1 and per_process > 1)


def train_epoch(model, loader, optimizer, device) -> tuple[float, float, int]:
    """(mean loss, accuracy, batches) over all processes."""
    from thygan.progress import progress

    model.train()
    totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, images
    info = distributed.process_info()
    for x, y in progress(loader, desc="train", unit="batch", leave=False, disable=info.rank != 0):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += torch.tensor([loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)],
                               dtype=torch.float64)
    distributed.all_reduce_sum_(totals)
    return float(totals[0] / totals[2]), float(totals[1] / totals[2]), len(loader)


@torch.no_grad()
def predict_probs(model, dataset: EvalDataset, *, batch_size: int, workers: int, device,
                  desc: str = "eval") -> torch.Tensor:
    """Softmax probabilities [N, C] per image (the mean over its crops), in dataset order."""
    from thygan.progress import progress

    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         collate_fn=collate_crops)
    rows = []
    for crops, _, counts, _ in progress(loader, desc=desc, unit="batch", leave=False,
                                                disable=distributed.process_info().rank != 0):
        probs = torch.softmax(model(crops.to(device)).float(), dim=1).cpu()
        image_of_crop = torch.repeat_interleave(torch.arange(len(counts)), counts)
        sums = torch.zeros(len(counts), probs.shape[1]).index_add_(0, image_of_crop, probs)
        rows.append(sums / counts[:, None])
    return torch.cat(rows) if rows else torch.zeros(0, 0)


def validate(model, items, opts: TrainOptions, device) -> tuple[float, float]:
    """(loss, accuracy): cross-entropy of the crop-averaged probabilities; sharded over processes."""
    info = distributed.process_info()
    shard = items[info.rank::info.world_size]
    probs = predict_probs(model, EvalDataset(shard, crop_size=opts.crop_size, mode=opts.eval_crop),
                          batch_size=max(1, opts.batch_size // info.world_size), workers=opts.workers,
                          device=device, desc="val")
    labels = torch.tensor([item.label for item in shard])
    totals = torch.zeros(3, dtype=torch.float64)
    if len(shard):
        picked = probs[torch.arange(len(shard)), labels].clamp_min(1e-12)
        totals += torch.tensor([-picked.log().sum().item(), (probs.argmax(1) == labels).sum().item(), len(shard)],
                               dtype=torch.float64)
    distributed.all_reduce_sum_(totals)
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


def _replace_best(run_dir: Path, previous: str | None, model, opts: TrainOptions, class_names, *, epoch: int,
                  val_loss: float, val_acc: float) -> str:
    stem = run_dir / f"vl_{val_loss:.4f}"
    weights = save_classifier(stem, model, model_type=opts.model_type, class_names=class_names,
                              extra={"epoch": epoch, "val_loss": val_loss, "val_acc": val_acc,
                                     "crop_size": opts.crop_size, "eval_crop": opts.eval_crop})
    if previous and previous != weights.name:  # the study kept only the best model
        for suffix in (".safetensors", ".json"):
            (run_dir / previous).with_suffix(suffix).unlink(missing_ok=True)
    return weights.name


def train_classifier(opts: TrainOptions, run_dir: str | Path, *,
                     stop_requested: Callable[[], bool] = lambda: False,
                     echo: Callable[[str], None] = print) -> dict:
    """Train (or resume) the run in ``run_dir``; returns the training results (also in the JSON).

    Returns a dict with ``"finished": False`` when ``stop_requested`` ended it after an epoch.
    """
    run_dir = Path(run_dir)
    info = distributed.process_info()
    log = RunLog(run_dir / LOG_FILE, enabled=info.rank == 0, echo=echo)
    device = _device(opts)
    if opts.batch_size % info.world_size:
        raise UserError(f"--batch_size: {opts.batch_size} does not split over {info.world_size} processes")

    # Data: rank 0 fills the synthetic-image cache first, the others then read it.
    if info.rank == 0:
        items = prepare_items(opts, log)
    distributed.barrier()
    if info.rank != 0:
        items = prepare_items(opts, lambda line: None)
    train_items, val_items, class_names = items.train, items.val, items.class_names
    dataset = TrainDataset(train_items, train_transform(opts.crop_size, preset=opts.augment),
                           crop_size=opts.crop_size, fda_paths=[item.path for item in train_items])

    # Model and optimisation, as the study: Adam with weight decay, ReduceLROnPlateau on val loss.
    torch.manual_seed(opts.seed)
    model = build_model(opts.model_type, len(class_names), opts.weights, width=opts.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=opts.lrd_fac,
                                                           patience=opts.lrd_epc)
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    best = {"file": None, "val_loss": float("inf"), "epoch": None}
    start_epoch = 1
    state = load_state(run_dir, model=model, optimizer=optimizer, scheduler=scheduler, log=log)
    if state is not None:
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
        log(f"resuming after epoch {state['epoch']} (best val loss {best['val_loss']:.4f})")
    net = torch.nn.parallel.DistributedDataParallel(model) if info.world_size > 1 else model

    stopped = "epochs"
    for epoch in range(start_epoch, opts.epochs + 1):
        started = time.time()
        torch.manual_seed(opts.seed * 100_003 + epoch)  # dropout and any other torch randomness
        train_loss, train_acc, batches = train_epoch(net, _train_loader(dataset, opts, epoch, info), optimizer,
                                                     device)
        for buffer in model.buffers():  # DDP syncs BN statistics before each forward, not after the last:
            distributed.broadcast_(buffer)  # validate every shard with rank 0's, the model that is saved
        val_loss, val_acc = validate(model, val_items, opts, device)
        for key, value in zip(history, (train_loss, train_acc, val_loss, val_acc)):
            history[key].append(value)
        log(epoch_line(epoch, opts.epochs, batches, {k: v[-1] for k, v in history.items()}, time.time() - started))
        scheduler.step(val_loss)
        if val_loss < best["val_loss"]:  # val_loss is summed over processes: every rank agrees
            file = _replace_best(run_dir, best["file"], model, opts, class_names, epoch=epoch, val_loss=val_loss,
                                 val_acc=val_acc) if info.rank == 0 else None
            best = {"file": file, "val_loss": val_loss, "epoch": epoch}
        early = should_stop_early(history["val_loss"], opts.es_pat)
        if info.rank == 0:
            save_state(run_dir, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                       history=history, best=best)
        if early:
            stopped = "early stopping"
            log(f"early stopping: no validation loss below {best['val_loss']:.4f} for {opts.es_pat} epochs")
            break
        if stop_requested() and epoch < opts.epochs:
            log(f"interrupted after epoch {epoch}; re-run the same command to resume")
            return {"finished": False, "epoch": epoch}

    results = dict(history, best_model=best["file"], best_epoch=best["epoch"], best_val_loss=best["val_loss"],
                   epochs_run=len(history["val_loss"]), stopped_by=stopped, class_names=class_names,
                   train_images=len(train_items), val_images=len(val_items), finished=True)
    if info.rank == 0:
        write_results(run_dir, results)
        training_curves(history, run_dir / "Training_Curves.png")
        log(f"best model: {best['file']} (epoch {best['epoch']}, val loss {best['val_loss']:.4f})")
    return results

