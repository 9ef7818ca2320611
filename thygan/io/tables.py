"""Tables written by the comparison commands: CSV files (atomic) and markdown tables."""

import csv
import io
import os
from pathlib import Path

from thygan.io.atomic import atomic_write_text


def csv_text(rows: list[dict]) -> str:
    """Rows of equal keys (the first row's order) as CSV text; None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """``csv_text`` of the rows as a file, written atomically."""
    return atomic_write_text(path, csv_text(rows))


def markdown_table(rows: list[dict]) -> str:
    """A markdown table with the first row's keys as header."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"
