"""Where metric results go: the reference's ``metric-<name>.jsonl`` line and, during training, the
tick's ``stats.jsonl`` record and TensorBoard (``Metrics/<key>``, as the reference tags them)."""

import json
import time
from pathlib import Path

from dnnlib.duration import format_duration
from thygan.io.atomic import atomic_write_text
from thygan.runs import NETWORK_SNAPSHOTS, STATS_FILE


def metric_record(name: str, results: dict, *, total_time: float, num_gpus: int,
                  snapshot: str | None) -> dict:
    """The reference's jsonl record, keys in its order."""
    return {"results": results, "metric": name, "total_time": total_time,
            "total_time_str": format_duration(total_time), "num_gpus": num_gpus, "snapshot_pkl": snapshot,
            "timestamp": time.time()}


def format_results(results: dict) -> str:
    return "  ".join(f"{key} {value:.6g}" for key, value in results.items())


def add_to_training_stats(run_dir: Path, results: dict) -> int | None:
    """Add ``Metrics/<key>`` entries to the last stats.jsonl record (the tick the snapshot ended).

    Returns:
        That tick's kimg (the TensorBoard step of its scalars), or None without a stats.jsonl.
    """
    path = Path(run_dir) / STATS_FILE
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
    """The TensorBoard step of a snapshot's metrics: its whole kimg (0 for other names)."""
    return int(NETWORK_SNAPSHOTS.index_of(snapshot_path) or 0)


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
