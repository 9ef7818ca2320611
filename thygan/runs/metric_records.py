"""Records a run appends as it goes: ``metric-<name>.jsonl`` (one reference-format line per evaluated
snapshot) and the per-tick ``stats.jsonl``, with one reader for both."""

import json
from pathlib import Path

from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text

STATS_FILE = "stats.jsonl"


def metric_file(folder: str | Path, metric: str) -> Path:
    return Path(folder) / f"metric-{metric}.jsonl"


def metric_files(folder: str | Path) -> list[Path]:
    """Every ``metric-*.jsonl`` of a folder, by name."""
    return sorted(Path(folder).glob("metric-*.jsonl"))


def append_line(path: str | Path, line: str) -> None:
    """Append one line atomically: readers see the old file or the old file plus the complete line."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    atomic_write_text(path, old + line + "\n")


def append_metric_record(folder: str | Path, record: dict) -> Path:
    """Append ``record`` (it names its ``metric``) to ``<folder>/metric-<metric>.jsonl``; returns that path."""
    path = metric_file(folder, record["metric"])
    append_line(path, json.dumps(record))
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file, one per non-empty line.

    A last line with no newline that does not parse is being appended by a running training (stats
    appends are not atomic) and is left out; any other bad line is a ``UserError``.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                continue
            raise UserError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number}: expected a JSON object")
        records.append(record)
    return records


def read_metric_records(folder: str | Path, metric: str) -> list[dict]:
    """The records of ``metric-<metric>.jsonl``; [] when the run has none."""
    path = metric_file(folder, metric)
    return read_jsonl(path) if path.is_file() else []
