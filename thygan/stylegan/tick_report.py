"""What a training run reports at each tick: one fixed-width line on stdout, the same numbers as one
JSON line in ``stats.jsonl`` (the reference's format) and as TensorBoard scalars."""

import json
import time
from pathlib import Path

import numpy as np

from dnnlib.duration import format_duration
from thygan.runs import STATS_FILE


def tick_line(progress, timing: dict, augment_p: float, stats: dict) -> str:
    """One fixed-width line per tick; ``-`` for a loss no phase computed in this tick (a lazy
    regularization phase runs only every G/D_reg_interval minibatches)."""
    def mean(name: str, spec: str) -> str:
        entry = stats.get(name)
        return format(entry["mean"], spec) if entry and entry.get("n", 1) > 0 else format("-", spec[:2] + "s")

    return (f"tick {progress.tick:<5d} kimg {progress.cur_nimg / 1000:<8.1f} "
            f"time {format_duration(timing['total_sec']):<9s} sec/tick {timing['sec_per_tick']:<7.1f} "
            f"sec/kimg {timing['sec_per_kimg']:<7.2f} cpumem {timing['cpumem_gb']:<5.2f} "
            f"gpumem {timing['gpumem_gb']:<5.2f} augment {augment_p:<6.3f} "
            f"loss/G {mean('Loss/G/loss', '<6.3f')} loss/D {mean('Loss/D/loss', '<6.3f')} "
            f"r1 {mean('Loss/r1_penalty', '<7.4f')} pl {mean('Loss/pl_penalty', '.4f')}").rstrip()


def append_stats(run_dir: Path, progress, timing: dict, augment_p: float, stats: dict, tensorboard) -> None:
    """One JSON line per tick in stats.jsonl (reference format) and the same scalars in TensorBoard."""
    record = dict(stats)
    record.update({
        "Progress/tick": {"n": 1, "mean": progress.tick, "std": 0},
        "Progress/kimg": {"n": 1, "mean": progress.cur_nimg / 1000, "std": 0},
        "Progress/augment": {"n": 1, "mean": augment_p, "std": 0},
        "Timing/sec_per_tick": {"n": 1, "mean": timing["sec_per_tick"], "std": 0},
        "Timing/sec_per_kimg": {"n": 1, "mean": timing["sec_per_kimg"], "std": 0},
        "Timing/total_sec": {"n": 1, "mean": timing["total_sec"], "std": 0},
        "Resources/cpu_mem_gb": {"n": 1, "mean": timing["cpumem_gb"], "std": 0},
        "Resources/peak_gpu_mem_gb": {"n": 1, "mean": timing["gpumem_gb"], "std": 0},
    })
    record["timestamp"] = time.time()
    with open(run_dir / STATS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    if tensorboard is not None:
        for name, value in record.items():
            if name != "timestamp" and np.isfinite(value["mean"]):
                tensorboard.add_scalar(name, value["mean"], global_step=progress.cur_nimg // 1000)
        tensorboard.flush()
