"""A run folder: ``{outdir}/{id}-{desc}`` numbered as the reference (5 digits) or the thyroid study's
classifier (3 digits), the options JSON written before any work starts, and the log files.

The numbering itself lives in dnnlib.run_dir (torch-free); this module adds what every trainer does
with the folder.
"""

import json
from collections.abc import Callable
from pathlib import Path

from dnnlib.run_dir import make_run_dir, run_id_of
from dnnlib.tee import Tee
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.json_file import read_json

GAN_RUN_DIGITS = 5          # the reference's 00000-desc
CLASSIFIER_RUN_DIGITS = 3   # the study's generate_id: 000-cv0_mc100


def new_run_dir(outdir: str | Path, desc: str, *, digits: int = GAN_RUN_DIGITS) -> Path:
    """Create the next numbered run folder ``{outdir}/{id:0{digits}d}-{desc}``."""
    return make_run_dir(outdir, desc, digits=digits)


def numbered_runs(outdir: str | Path, desc: str | None = None) -> list[Path]:
    """The numbered run folders under ``outdir`` (only ``*-desc`` ones when given), oldest first."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return []
    runs = [(number, path) for path in outdir.iterdir()
            if path.is_dir() and (number := run_id_of(path.name, desc)) is not None]
    return [path for _, path in sorted(runs)]


def write_options(run_dir: str | Path, options: dict | str, *, name: str = "options.json") -> Path:
    """Write the resolved options (a dict, or JSON text) as ``run_dir/name``, atomically."""
    text = options if isinstance(options, str) else json.dumps(options, indent=2) + "\n"
    path = Path(run_dir) / name
    atomic_write_text(path, text)
    return path


def read_options(run_dir: str | Path, *, name: str = "options.json") -> dict:
    """The options a run wrote; a ``UserError`` naming the file when missing or malformed."""
    path = Path(run_dir) / name
    data = read_json(path, what="the run's options", missing="not found")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def tee_to_log(run_dir: str | Path, *, name: str = "log.txt") -> Tee:
    """Context manager: stdout and stderr also appended to the run's log file."""
    return Tee(Path(run_dir) / name)


def open_tensorboard(run_dir: str | Path):
    """A TensorBoard writer logging into the run folder, or None (with a note) without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional: only here, so the rest runs without it
    except ImportError as exc:
        print(f"Skipping tfevents export: {exc}")
        return None
    return SummaryWriter(str(run_dir))


def write_epoch_scalars(writer, scalars: dict[str, float], epoch: int, *, images: dict | None = None) -> None:
    """One epoch's numbers as ``Epoch/<name>`` scalars and its pictures (``{tag: [H, W, 3] uint8}``), flushed.

    ``writer`` is what ``open_tensorboard`` returned; None (no tensorboard, or rank > 0) writes nothing.
    """
    if writer is None:
        return
    for name, value in scalars.items():
        writer.add_scalar(f"Epoch/{name}", value, epoch)
    for tag, image in (images or {}).items():
        writer.add_image(tag, image, epoch, dataformats="HWC")
    writer.flush()


class RunLog:
    """Lines to ``echo`` (stdout) and appended to a log file; silent when not ``enabled`` (rank > 0)."""

    def __init__(self, path: str | Path, *, enabled: bool = True, echo: Callable[[str], None] = print):
        self.path, self.enabled, self.echo = Path(path), enabled, echo

    def __call__(self, line: str) -> None:
        if not self.enabled:
            return
        self.echo(line)
        self.append(line)

    def append(self, line: str) -> None:
        """Only into the file (e.g. a header line nobody needs on screen)."""
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
