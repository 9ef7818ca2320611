"""What a StyleGAN2-ADA snapshot holds: the user-facing ``network-snapshot-NNNNNN`` (G, D, G_ema, augment
p, class names, options) and the ``training-state-NNNNNN`` that resumes the run exactly (both
optimizers, pl_mean, ADA statistics, the loop's counters). Names, pairing, atomicity and the choice of
the newest complete pair belong to thygan.runs.snapshots; this module says what goes in them.

Snapshots are named by whole kimg as the reference's, except in runs that snapshot more often than
every kimg (e.g. ``--kimg=0.016``): there the name carries kimg to the image (``000000.016``).
"""

from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError
from thygan.io.checkpoint import save_checkpoint
from thygan.io.network_file import load_network_file
from thygan.runs import kimg_index, load_training_state, recover_set_aside, save_training_state, state_files, write_pair
from thygan.stylegan.training_options import TrainingOptions, options_to_dict


@dataclass
class Progress:
    cur_nimg: int = 0            # real images shown to D so far
    batch_idx: int = 0           # minibatches done
    tick: int = 0                # ticks done
    tick_start_nimg: int = 0     # cur_nimg when the current tick began


def snapshots_every_kimg(opts: TrainingOptions) -> bool:
    """Whether whole-kimg names keep this run's snapshots apart (else they carry kimg to the image)."""
    return opts.total_kimg >= 1 and opts.kimg_per_tick * opts.network_snapshot_ticks >= 1


def save_snapshot(run_dir: Path, *, opts: TrainingOptions, G, D, G_ema, phases, loss, augment_pipe,
                  progress: Progress, ada_stats, class_names) -> Path:
    """Write the training state, then the network snapshot; returns the snapshot's .safetensors path."""
    index, decimals = kimg_index(progress.cur_nimg, fractional=not snapshots_every_kimg(opts))
    optimizers = {phase.name[0]: phase.opt for phase in phases}  # 'G' and 'D' share one optimizer each
    augment = {"p": augment_pipe.p} if augment_pipe is not None else {}
    counters = {"cur_nimg": progress.cur_nimg, "batch_idx": progress.batch_idx, "tick": progress.tick,
                "tick_start_nimg": progress.tick_start_nimg}
    tensors = {"loss": {"pl_mean": loss.pl_mean}, "ada_stats": ada_stats.state_dict(), "augment_pipe": augment}
    stem = write_pair(
        run_dir, index, decimals=decimals,
        write_state=lambda stem: save_training_state(stem, optimizers=optimizers, tensors=tensors, counters=counters,
                                                     cur_nimg=progress.cur_nimg),
        write_snapshot=lambda stem: save_checkpoint(stem, networks={"G": G, "D": D, "G_ema": G_ema},
                                                    extra_tensors={"augment_pipe": augment} if augment else None,
                                                    class_names=class_names, training_options=options_to_dict(opts),
                                                    cur_nimg=progress.cur_nimg, extra={"progress": counters}))
    return stem.with_name(stem.name + ".safetensors")


def resume_training(path: str | Path, *, G, D, G_ema, phases, loss, augment_pipe, ada_stats, device) -> Progress:
    """Load weights (and, when the training state is beside the snapshot, everything else)."""
    if not str(path).endswith(".pkl"):
        recover_set_aside(Path(path).parent)
    loaded = load_network_file(path)
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        source = loaded.networks.get(name)
        if source is None:
            raise UserError(f"--resume: {path} holds no {name}")
        try:
            module.load_state_dict(source.state_dict(), strict=True)
        except RuntimeError as exc:
            raise UserError(f"--resume: {path}: its {name} does not match this --cfg/dataset "
                            f"({str(exc).splitlines()[0]})") from None
    if str(path).endswith(".pkl"):
        print("note: reference .pkl resumes weights only (optimizer state and counters start fresh)")
        return Progress()
    files = state_files(path)
    if files is None:
        print(f"note: no training state beside {path}; resuming weights only, counters from the snapshot")
        nimg = loaded.cur_nimg or 0
        return Progress(cur_nimg=nimg, tick_start_nimg=nimg)
    counters, tensors = load_training_state(files[0], optimizers={phase.name[0]: phase.opt for phase in phases})
    loss.pl_mean.copy_(tensors["loss"]["pl_mean"].to(device))
    ada_stats.load_state_dict(tensors.get("ada_stats", {}))
    if augment_pipe is not None and "augment_pipe" in tensors:
        augment_pipe.p.copy_(tensors["augment_pipe"]["p"].to(device))
    return Progress(**counters)
