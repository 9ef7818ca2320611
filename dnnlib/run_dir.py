"""Numbered run folders, as the reference names them: ``{outdir}/{id:05d}-{desc}``."""

import os
import re
from pathlib import Path


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
