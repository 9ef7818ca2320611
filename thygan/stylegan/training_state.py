"""Snapshots of a run: the user-facing ``network-snapshot-NNNNNN`` (G, D, G_ema, augment p) and, beside
it, the ``training-state-NNNNNN`` that resumes the run exactly (optimizers, pl_mean, ADA statistics,
counters). Both are thygan checkpoints (safetensors + JSON), written atomically; only the latest
training state is kept, since it is as large as the networks twice over.

A pair counts as complete once both JSON files exist (a checkpoint's JSON is written last), so a
process killed at any moment leaves the previous complete pair as the one ``--resume`` picks. A pair
rewritten under the same name (ticks under 1 kimg, or a final snapshot in the kimg of the last one) is
first set aside as ``*.prev``, snapshot JSON first; ``latest_snapshot`` puts it back when the rewrite
did not finish, and drops it when it did.
"""

import re
from pathlib import Path

import torch

from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint
from thygan.stylegan.training_options import options_to_dict

SNAPSHOT_PATTERN = re.compile(r"^network-snapshot-(\d+)\.json$")


def snapshot_stem(run_dir: Path, kimg: int) -> Path:
    return Path(run_dir) / f"network-snapshot-{kimg:06d}"


def state_stem(run_dir: Path, kimg: int) -> Path:
    return Path(run_dir) / f"training-state-{kimg:06d}"


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = opt.state_dict()
    tensors = {f"{idx}.{name}": value for idx, slots in state["state"].items() for name, value in slots.items()
               if torch.is_tensor(value)}
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], layout: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": layout["param_groups"]})


def save_snapshot(run_dir: Path, *, opts, G, D, G_ema, phases, loss, augment_pipe, progress, ada_stats,
                  class_names) -> Path:
    """Write the training state, then the network snapshot; returns the snapshot's .safetensors path."""
    kimg = progress.cur_nimg // 1000
    optimizers = {phase.name[0]: phase.opt for phase in phases}  # 'G' and 'D' share one optimizer each
    extra_tensors, layouts = {}, {}
    for net_name, opt in optimizers.items():
        extra_tensors[f"{net_name}_opt"], layouts[f"{net_name}_opt"] = _flatten_optimizer(opt)
    extra_tensors["loss"] = {"pl_mean": loss.pl_mean}
    extra_tensors["ada_stats"] = ada_stats.state_dict()
    augment = {"p": augment_pipe.p} if augment_pipe is not None else {}
    if augment:
        extra_tensors["augment_pipe"] = augment
    counters = {"cur_nimg": progress.cur_nimg, "batch_idx": progress.batch_idx, "tick": progress.tick,
                "tick_start_nimg": progress.tick_start_nimg}
    set_aside = _set_aside_pair(run_dir, kimg)
    save_checkpoint(state_stem(run_dir, kimg), networks={}, extra_tensors=extra_tensors, cur_nimg=progress.cur_nimg,
                    extra={"progress": counters, "optimizers": layouts})
    weights, _ = save_checkpoint(snapshot_stem(run_dir, kimg), networks={"G": G, "D": D, "G_ema": G_ema},
                                 extra_tensors={"augment_pipe": augment} if augment else None,
                                 class_names=class_names, training_options=options_to_dict(opts),
                                 cur_nimg=progress.cur_nimg, extra={"progress": counters})
    for path in set_aside:
        path.unlink(missing_ok=True)
    _remove_older_states(run_dir, keep=kimg)
    return weights


def _pair_files(run_dir: Path, kimg: int) -> list[Path]:
    """The files of a snapshot pair, the commit marker (the snapshot's JSON) first."""
    snapshot_weights, snapshot_json = checkpoint_paths(snapshot_stem(run_dir, kimg))
    state_weights, state_json = checkpoint_paths(state_stem(run_dir, kimg))
    return [snapshot_json, snapshot_weights, state_json, state_weights]


def _prev(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def _set_aside_pair(run_dir: Path, kimg: int) -> list[Path]:
    """Rename an existing pair of this name to ``*.prev`` (each rename atomic); returns the new names."""
    moved = []
    for path in _pair_files(run_dir, kimg):
        if path.exists():
            path.replace(_prev(path))
            moved.append(_prev(path))
    return moved


def _recover_set_aside(run_dir: Path) -> None:
    """Finish what a killed rewrite left: keep the new pair if its snapshot JSON landed, else restore."""
    for prev_json in Path(run_dir).glob("network-snapshot-*.json.prev"):
        kimg = int(re.search(r"(\d+)", prev_json.name).group(1))
        files = _pair_files(run_dir, kimg)
        rewrite_finished = files[0].exists()
        for path in files:
            if _prev(path).exists():
                if rewrite_finished:
                    _prev(path).unlink()
                else:
                    _prev(path).replace(path)


def _remove_older_states(run_dir: Path, *, keep: int) -> None:
    for path in Path(run_dir).glob("training-state-*.*"):
        match = re.match(r"^training-state-(\d+)\.", path.name)
        if match and int(match.group(1)) != keep:
            path.unlink(missing_ok=True)


def latest_snapshot(run_dir: Path) -> Path | None:
    """The newest complete network snapshot in a run folder (preferring ones with a training state)."""
    _recover_set_aside(run_dir)
    complete = []
    for path in Path(run_dir).iterdir():
        match = SNAPSHOT_PATTERN.match(path.name)
        if match and checkpoint_paths(path)[0].exists():
            kimg = int(match.group(1))
            has_state = all(p.exists() for p in checkpoint_paths(state_stem(run_dir, kimg)))
            complete.append((has_state, kimg, path.with_suffix(".safetensors")))
    return max(complete)[2] if complete else None


def training_state_files(snapshot: str | Path) -> tuple[Path, Path] | None:
    """The training state saved beside a network snapshot, or None (a .pkl, or weights only)."""
    match = re.search(r"network-snapshot-(\d+)", Path(snapshot).name)
    if match is None:
        return None
    files = checkpoint_paths(state_stem(Path(snapshot).parent, int(match.group(1))))
    return files if all(p.exists() for p in files) else None


def load_training_state(path: str | Path, *, G, D, G_ema, phases, loss, augment_pipe, ada_stats, device):
    """Load weights (and, when the training state is beside the snapshot, everything else)."""
    from thygan.io.network_file import load_network_file
    from thygan.stylegan.training_loop import Progress

    if not str(path).endswith(".pkl"):
        _recover_set_aside(Path(path).parent)
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
    state_files = training_state_files(path)
    if state_files is None:
        print(f"note: no training state beside {path}; resuming weights only, counters from the snapshot")
        nimg = loaded.cur_nimg or 0
        return Progress(cur_nimg=nimg, tick_start_nimg=nimg)
    state = load_checkpoint(state_files[0])
    layouts = state.meta["extra"]["optimizers"]
    optimizers = {phase.name[0]: phase.opt for phase in phases}
    for net_name, opt in optimizers.items():
        _restore_optimizer(opt, state.extra_tensors.get(f"{net_name}_opt", {}), layouts[f"{net_name}_opt"])
    loss.pl_mean.copy_(state.extra_tensors["loss"]["pl_mean"].to(device))
    ada_stats.load_state_dict(state.extra_tensors.get("ada_stats", {}))
    if augment_pipe is not None and "augment_pipe" in state.extra_tensors:
        augment_pipe.p.copy_(state.extra_tensors["augment_pipe"]["p"].to(device))
    return Progress(**state.meta["extra"]["progress"])
