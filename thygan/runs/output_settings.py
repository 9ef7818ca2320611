"""Resumable output folders that know what made them.

Commands that write one output per input (``segment infer tile``, ``translate run``) skip inputs whose
output exists, so an interrupted run resumes. Without a record of the model and settings, a rerun with
another model would keep the old outputs and add new ones beside them, and nothing would tell the two
apart. ``claim_outputs`` writes ``.thygan-settings.json`` into the output folder and, on every later run:

- same settings: resume (existing outputs are kept);
- other settings (or a folder with outputs but no record) and outputs present: one-line refusal naming
  what differs, unless ``overwrite`` is set; then the outputs that mark an input as done are removed
  before the new record is written, so an interrupted redo resumes without mixing the two.
"""

import json
from collections.abc import Iterable
from pathlib import Path

from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text

RECORD_NAME = ".thygan-settings.json"


def claim_outputs(folder: str | Path, settings: dict, *, done_markers: Iterable[Path], overwrite: bool,
                  flag: str, overwrite_flag: str = "--overwrite") -> None:
    """Make ``folder`` the output of ``settings``; see the module docstring.

    Args:
        folder: The output folder (created when missing).
        settings: JSON-serialisable description of what decides the outputs (model fingerprint, options).
        done_markers: Existing files whose presence marks an input as finished.
        overwrite: Redo finished inputs made under other settings instead of refusing.
        flag: The command-line flag naming the folder, for the message.
        overwrite_flag: The flag that sets ``overwrite``, for the message.

    Raises:
        UserError: Outputs of other (or unrecorded) settings exist and ``overwrite`` is not set.
    """
    folder = Path(folder)
    settings = _as_read_back(settings)
    recorded = _read_record(folder / RECORD_NAME)
    if recorded == settings:
        return
    markers = [path for path in done_markers if path.is_file()]
    if markers and not overwrite:
        raise UserError(f"{flag}: '{folder}' holds {len(markers)} output(s) made with "
                        f"{_difference(recorded, settings)}; pass {overwrite_flag} to redo them, or choose "
                        f"another folder")
    for path in markers:
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / RECORD_NAME, json.dumps(settings, indent=2, sort_keys=True))


def same_settings(folder: str | Path, settings: dict) -> bool:
    """Whether ``folder``'s record says that ``settings`` made its outputs."""
    return _read_record(Path(folder) / RECORD_NAME) == _as_read_back(settings)


def _as_read_back(settings: dict) -> dict:
    """``settings`` as the record reads back (tuples become lists), so that the two compare equal."""
    return json.loads(json.dumps(settings))


def _read_record(record: Path) -> dict | None:
    if not record.is_file():
        return None
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None  # unreadable: treated as unrecorded, so existing outputs are never trusted


def _difference(recorded: dict | None, settings: dict) -> str:
    if recorded is None:
        return f"unrecorded settings (no {RECORD_NAME})"
    keys = sorted(k for k in recorded.keys() | settings.keys() if recorded.get(k) != settings.get(k))
    return "another " + ", ".join(keys)
