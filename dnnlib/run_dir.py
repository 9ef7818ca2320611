"""Names inside an output folder, as the reference writes them: numbered run folders
``{outdir}/{id:05d}-{desc}`` and indexed files ``{prefix}-{index:06d}`` (``network-snapshot-000400``).

This is the only place that spells these grammars; thygan.runs builds the run-folder logic on it.
"""

import os
import re
from pathlib import Path

INDEX_DIGITS = 6                          # the reference's network-snapshot-NNNNNN
NETWORK_SNAPSHOT_PREFIX = "network-snapshot"  # the reference's snapshot names (kimg index)


def next_run_id(outdir: str | Path) -> int:
    """One more than the largest numeric prefix among the entries of ``outdir`` (0 if none)."""
    ids = [int(m.group(1)) for name in (os.listdir(outdir) if os.path.isdir(outdir) else [])
           if (m := re.match(r"^(\d+)", name))]
    return max(ids, default=-1) + 1


def make_run_dir(outdir: str | Path, desc: str, *, digits: int = 5) -> Path:
    """Create and return the next numbered run folder under ``outdir``."""
    Path(outdir).mkdir(parents=True, exist_ok=True)
    while True:  # another process may take the same id between listing and creating
        run_dir = Path(outdir) / f"{next_run_id(outdir):0{digits}d}-{desc}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


def run_id_of(name: str, desc: str | None = None) -> int | None:
    """The number of a run folder name ``NNNNN-desc`` (any desc when ``desc`` is None), else None."""
    match = re.match(r"^(\d+)-(.*)$", name)
    if match is None or (desc is not None and match.group(2) != desc):
        return None
    return int(match.group(1))


def indexed_name(prefix: str, index: float, *, decimals: int = 0) -> str:
    """``{prefix}-{index:06d}``; with ``decimals`` > 0 a fixed-point index, ``{prefix}-000000.016``."""
    if decimals == 0:
        return f"{prefix}-{int(index):0{INDEX_DIGITS}d}"
    return f"{prefix}-{index:0{INDEX_DIGITS + 1 + decimals}.{decimals}f}"


def parse_indexed_name(name: str, prefix: str) -> float | None:
    """The index of ``{prefix}-NNNNNN[.ddd][.ext...]`` (any extensions), else None."""
    match = re.match(rf"^{re.escape(prefix)}-(\d+(?:\.\d+)?)(?:\.[A-Za-z]\w*)*$", name)
    if match is None:
        return None
    value = float(match.group(1))
    return int(value) if value.is_integer() and "." not in match.group(1) else value
