"""Snapshots in a run folder: a user-facing ``<snapshot>-NNNNNN`` (weights) and, beside it, the
``<state>-NNNNNN`` that resumes the run exactly (optimizers, counters, anything else the trainer keeps).
Both are thygan checkpoints (safetensors + JSON, see thygan.io.checkpoint), written atomically; only the
latest training state is kept, since it is as large as the networks twice over.

The index is whatever the trainer counts in: kimg for StyleGAN (``network-snapshot-000400``, the
reference's names), epochs for per-epoch trainers. ``SnapshotNames`` holds the two prefixes.

A pair counts as complete once the snapshot's JSON exists (a checkpoint's JSON is written last, and the
state is written before the snapshot), so a process killed at any moment leaves the previous complete
pair as the one ``latest_snapshot`` picks. A pair rewritten under the same name (a final snapshot in
the index of the last one) is first set aside as ``*.prev``, snapshot JSON first; ``latest_snapshot``
puts it back when the rewrite did not finish, and drops it when it did.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from dnnlib.run_dir import NETWORK_SNAPSHOT_PREFIX, indexed_name, parse_indexed_name
from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class SnapshotNames:
    """The file-name prefixes of one trainer's snapshot pairs."""

    snapshot: str = NETWORK_SNAPSHOT_PREFIX  # user-facing weights: <snapshot>-NNNNNN.safetensors/.json
    state: str = "training-state"        # resume state beside it: <state>-NNNNNN.safetensors/.json

    def snapshot_stem(self, run_dir: str | Path, index: float, *, decimals: int = 0) -> Path:
        return Path(run_dir) / indexed_name(self.snapshot, index, decimals=decimals)

    def state_stem(self, run_dir: str | Path, index: float, *, decimals: int = 0) -> Path:
        return Path(run_dir) / indexed_name(self.state, index, decimals=decimals)

    def index_of(self, path: str | Path) -> float | None:
        """The index in a snapshot file name (any extension, ``.pkl`` included), else None."""
        return parse_indexed_name(Path(path).name, self.snapshot)


NETWORK_SNAPSHOTS = SnapshotNames()  # StyleGAN's names, indexed by kimg as the reference


def kimg_index(cur_nimg: int, *, fractional: bool) -> tuple[float, int]:
    """(index, decimals) naming a snapshot taken after ``cur_nimg`` images.

    Whole kimg (the reference's names) unless the run snapshots more often than every kimg
    (``fractional``): then kimg with three decimals, one per image, so no two snapshots share a name.
    """
    return (cur_nimg / 1000, 3) if fractional else (cur_nimg // 1000, 0)


def _index_text(path: Path, prefix: str) -> str:
    """``000400`` of ``<prefix>-000400.json.prev`` (the index as written, decimals included)."""
    name = path.name.removesuffix(".prev")
    for extension in (".json", ".safetensors", ".pkl"):
        name = name.removesuffix(extension)
    return name[len(prefix) + 1:]


def _pair_files(snapshot_stem: Path, state_stem: Path) -> list[Path]:
    """The files of a pair, the commit marker (the snapshot's JSON) first."""
    snapshot_weights, snapshot_json = checkpoint_paths(snapshot_stem)
    state_weights, state_json = checkpoint_paths(state_stem)
    return [snapshot_json, snapshot_weights, state_json, state_weights]


def _prev(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def write_pair(run_dir: str | Path, index: float, *, write_state: Callable[[Path], object] | None,
               write_snapshot: Callable[[Path], object], decimals: int = 0,
               names: SnapshotNames = NETWORK_SNAPSHOTS) -> Path:
    """Write a snapshot pair under ``index``: ``write_state(stem)`` first, then ``write_snapshot(stem)``
    (each writes a checkpoint at the stem it is given). A new training state removes the older ones.

    Returns:
        The snapshot's stem.
    """
    snapshot_stem = names.snapshot_stem(run_dir, index, decimals=decimals)
    state_stem = names.state_stem(run_dir, index, decimals=decimals)
    set_aside = []
    for path in _pair_files(snapshot_stem, state_stem):  # each rename atomic, the marker first
        if path.exists():
            path.replace(_prev(path))
            set_aside.append(_prev(path))
    if write_state is not None:
        write_state(state_stem)
    write_snapshot(snapshot_stem)
    for path in set_aside:
        path.unlink(missing_ok=True)
    if write_state is not None:  # the new state supersedes the older ones
        keep = _index_text(state_stem, names.state)
        for path in Path(run_dir).glob(f"{names.state}-*"):
            if parse_indexed_name(path.name, names.state) is not None and _index_text(path, names.state) != keep:
                path.unlink(missing_ok=True)
    return snapshot_stem


def recover_set_aside(run_dir: str | Path, *, names: SnapshotNames = NETWORK_SNAPSHOTS) -> None:
    """Finish what a killed rewrite left: keep the new pair if its snapshot JSON landed, else restore."""
    for prev_json in Path(run_dir).glob(f"{names.snapshot}-*.json.prev"):
        text = _index_text(prev_json, names.snapshot)
        files = _pair_files(Path(run_dir) / f"{names.snapshot}-{text}", Path(run_dir) / f"{names.state}-{text}")
        rewrite_finished = files[0].exists()
        for path in files:
            if _prev(path).exists():
                if rewrite_finished:
                    _prev(path).unlink()
                else:
                    _prev(path).replace(path)


def _snapshot_jsons(run_dir: Path, names: SnapshotNames) -> list[tuple[float, Path]]:
    """(index, path) of every snapshot JSON in a run folder, the commit markers of their pairs."""
    return [(index, path) for path in Path(run_dir).glob(f"{names.snapshot}-*.json")
            if (index := names.index_of(path)) is not None]


def latest_snapshot(run_dir: str | Path, *, names: SnapshotNames = NETWORK_SNAPSHOTS) -> Path | None:
    """The newest complete snapshot's .safetensors in a run folder (preferring ones with a training state).

    Finishes a rewrite a killed process left (``recover_set_aside``), so only the trainer (resuming) and
    what runs after it should call it; readers of a live run use ``latest_snapshot_json``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    recover_set_aside(run_dir, names=names)
    complete = [(state_files(path, names=names) is not None, index, checkpoint_paths(path)[0])
                for index, path in _snapshot_jsons(run_dir, names) if checkpoint_paths(path)[0].exists()]
    return max(complete)[2] if complete else None


def latest_snapshot_json(run_dir: str | Path, *, names: SnapshotNames = NETWORK_SNAPSHOTS) -> Path | None:
    """The JSON of the newest snapshot, touching nothing (for readers of metadata, even of a live run)."""
    found = _snapshot_jsons(Path(run_dir), names)
    return max(found)[1] if found else None


def state_files(snapshot: str | Path, *, names: SnapshotNames = NETWORK_SNAPSHOTS) -> tuple[Path, Path] | None:
    """The training state saved beside a snapshot, or None (a .pkl, weights only, another name)."""
    snapshot = Path(snapshot)
    if names.index_of(snapshot) is None or snapshot.suffix == ".pkl":
        return None
    text = _index_text(snapshot, names.snapshot)
    files = checkpoint_paths(snapshot.parent / f"{names.state}-{text}")
    return files if all(p.exists() for p in files) else None


# --- training state -------------------------------------------------------------------------------

def flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as flat tensors ``{"<param idx>.<slot>": tensor}`` plus its JSON-able layout."""
    state = opt.state_dict()
    tensors = {f"{idx}.{name}": value for idx, slots in state["state"].items() for name, value in slots.items()
               if torch.is_tensor(value)}
    return tensors, {"param_groups": state["param_groups"]}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], layout: dict) -> None:
    """Inverse of ``flatten_optimizer``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": layout["param_groups"]})


def save_training_state(stem: str | Path, *, optimizers: Mapping[str, torch.optim.Optimizer],
                        tensors: Mapping[str, Mapping[str, torch.Tensor]], counters: dict,
                        cur_nimg: int | None = None) -> tuple[Path, Path]:
    """A training state checkpoint: each optimizer as the tensor group ``<name>_opt`` (layout in the
    JSON's ``extra.optimizers``), further tensor groups as given, and the loop's ``counters``."""
    groups, layouts = {}, {}
    for name, opt in optimizers.items():
        groups[f"{name}_opt"], layouts[f"{name}_opt"] = flatten_optimizer(opt)
    groups.update({name: dict(group) for name, group in tensors.items() if group})
    return save_checkpoint(stem, networks={}, extra_tensors=groups, cur_nimg=cur_nimg,
                           extra={"progress": counters, "optimizers": layouts})


def load_training_state(path: str | Path, *, optimizers: Mapping[str, torch.optim.Optimizer]
                        ) -> tuple[dict, dict[str, dict[str, torch.Tensor]]]:
    """Restore the optimizers from a training state; returns (counters, the other tensor groups)."""
    state = load_checkpoint(path)
    layouts = state.meta["extra"]["optimizers"]
    for name, opt in optimizers.items():
        restore_optimizer(opt, state.extra_tensors.get(f"{name}_opt", {}), layouts[f"{name}_opt"])
    others = {name: group for name, group in state.extra_tensors.items() if not name.endswith("_opt")}
    return state.meta["extra"]["progress"], others


def resume_latest(run_dir: str | Path, *, names: SnapshotNames, optimizers: Mapping[str, torch.optim.Optimizer]
                  ) -> tuple[Path, dict, dict[str, dict[str, torch.Tensor]]] | None:
    """Where a run folder left off: (its newest snapshot, counters, other tensor groups) with the
    ``optimizers`` restored, or None for a folder with no snapshot yet.

    Raises:
        UserError: the newest snapshot has no training state beside it (it cannot continue exactly).
    """
    last = latest_snapshot(run_dir, names=names)
    if last is None:
        return None
    state = state_files(last, names=names)
    if state is None:
        raise UserError(f"{last}: no training state beside it; cannot resume {run_dir}")
    counters, tensors = load_training_state(state[0], optimizers=optimizers)
    return last, counters, tensors


def load_state_file(path: str | Path) -> dict | None:
    """A single-file training state in torch's format, as the classifier wrote before it used
    ``save_training_state`` (kept to resume such run folders; nothing writes one now). Loaded only with
    ``weights_only=True``: it never runs code. None when there is no such file."""
    path = Path(path)
    return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
