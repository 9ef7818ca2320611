"""Tables written by the comparison commands: CSV files (atomic) and markdown tables."""

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from thygan.io.atomic import atomic_write_text


def csv_text(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text, with ``columns`` (default: the first row's keys, in order) as the header; None is
    written as an empty cell, a missing key too. With ``columns`` no rows give the header alone."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns if columns is not None else rows[0]),
                            lineterminator="\n")
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
