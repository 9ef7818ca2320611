"""Where metric results go: the reference's ``metric-<name>.jsonl`` line and, during training, the
tick's ``stats.jsonl`` record and TensorBoard (``Metrics/<key>``, as the reference tags them)."""

import json
import re
import time
from pathlib import Path

from dnnlib.duration import format_duration
from thygan.io.atomic import atomic_write_text

_SNAPSHOT_KIMG = re.compile(r"network-snapshot-(\d+)")


def metric_record(name: str, results: dict, *, total_time: float, num_gpus: int,
                  snapshot: str | None) -> dict:
    """The reference's jsonl record, keys in its order."""
    return {"results": results, "metric": name, "total_time": total_time,
            "total_time_str": format_duration(total_time), "num_gpus": num_gpus, "snapshot_pkl": snapshot,
            "timestamp": time.time()}


def _append_line(path: Path, line: str) -> None:
    """Append one line atomically: readers see the old file or the old file plus the complete line."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    atomic_write_text(path, old + line + "\n")


def append_metric_jsonl(folder: str | Path, record: dict) -> Path:
    """Append ``record`` to ``<folder>/metric-<name>.jsonl``; returns that path."""
    path = Path(folder) / f"metric-{record['metric']}.jsonl"
    _append_line(path, json.dumps(record))
    return path


def format_results(results: dict) -> str:
    return "  ".join(f"{key} {value:.6g}" for key, value in results.items())


def add_to_training_stats(run_dir: Path, results: dict) -> int | None:
    """Add ``Metrics/<key>`` entries to the last stats.jsonl record (the tick the snapshot ended).

    Returns:
        That tick's kimg (the TensorBoard step of its scalars), or None without a stats.jsonl.
    """
    path = Path(run_dir) / "stats.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if not lines:
        return None
    last = json.loads(lines[-1])
    last.update({f"Metrics/{key}": {"n": 1, "mean": value, "std": 0} for key, value in results.items()})
    lines[-1] = json.dumps(last)
    atomic_write_text(path, "\n".join(lines) + "\n")
    kimg = last.get("Progress/kimg", {}).get("mean")
    return int(kimg) if kimg is not None else None


def snapshot_kimg(snapshot_path: str | Path) -> int:
    match = _SNAPSHOT_KIMG.search(Path(snapshot_path).name)
    return int(match.group(1)) if match else 0


def add_to_tensorboard(run_dir: Path, results: dict, *, step: int) -> None:
    """Write ``Metrics/<key>`` scalars to a small events file of their own in the run folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    writer = SummaryWriter(str(run_dir), filename_suffix=".metrics")
    for key, value in results.items():
        writer.add_scalar(f"Metrics/{key}", value, global_step=step)
    writer.close()
