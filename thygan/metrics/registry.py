"""The metric table: name -> function(G_ema, data options, device) -> {result key: value}.

Training evaluates the names given by --metrics at every snapshot and appends the reference's JSON
line to ``metric-<name>.jsonl`` in the run folder.
"""

import json
import time
from pathlib import Path

from dnnlib import Registry

METRICS = Registry("metric")


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def metric_record(name: str, results: dict, *, total_time: float, num_gpus: int, snapshot: str | None) -> dict:
    """The reference's jsonl record, keys in its order."""
    return {"results": results, "metric": name, "total_time": total_time,
            "total_time_str": format_duration(total_time), "num_gpus": num_gpus, "snapshot_pkl": snapshot,
            "timestamp": time.time()}


def run_metric_for_training(name: str, *, G_ema, data, snapshot_path: Path, run_dir: Path, device) -> dict:
    start = time.time()
    results = METRICS.get(name)(G_ema=G_ema, data=data, device=device)
    record = metric_record(name, results, total_time=time.time() - start, num_gpus=1,
                           snapshot=Path(snapshot_path).name)
    with open(Path(run_dir) / f"metric-{name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(" ".join(f"{k} {v:g}" for k, v in results.items()))
    return record
