"""Writing tiles to a folder with a dataset.json, resumable after an interruption.

Every tile is written atomically under a deterministic name, so a re-run can never duplicate one.
Progress is kept in ``<dest>/.thygan_progress.jsonl``: a first line with the run's options, then
one line per finished source image with its records (``meta`` rows, plus their tile ``origins``
keyed by file name, as in dataset.json). A re-run skips finished sources without
reading them, trusts tiles already on disk in an unfinished one, and refuses a folder whose
progress was made with other options (the tiles would not match). ``dataset.json`` is written
atomically once every source is finished.
"""

import io
import json
import os
from pathlib import Path

import numpy as np
import PIL.Image

from thygan.data.labels import LabelRecord, write_dataset_json
from thygan.data.tile_origin import origins_json, read_origins
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_bytes

PROGRESS_FILE = ".thygan_progress.jsonl"
DATASET_FILE = "dataset.json"
FORMATS = {"jpeg": "JPEG", "png": "PNG"}  # --format value -> Pillow format (the value is the suffix)


def encode_tile(rgb: np.ndarray, fmt: str) -> bytes:
    """rgb: [H, W, 3] uint8 -> file bytes. JPEG keeps Pillow's default quality, as the study did."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format=FORMATS[fmt])
    return buffer.getvalue()


class TileExport:
    """A destination folder of tiles being filled source by source.

    Args:
        dest: Output folder (created if missing).
        fmt: ``jpeg`` or ``png``; also the file suffix.
        options: Everything that determines the tiles (crop size, stride, level...), compared with
            the options of an unfinished earlier run in the same folder.
    """

    def __init__(self, dest: str | os.PathLike, *, fmt: str, options: dict):
        if fmt not in FORMATS:
            raise UserError(f"--format: expected one of {', '.join(FORMATS)}, got '{fmt}'")
        self.dest = Path(dest)
        self.fmt = fmt
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--dest: cannot create folder {self.dest} ({exc})") from None
        self.options = json.loads(json.dumps(options))  # normalised as it will read back
        self.finished: dict[str, list[LabelRecord]] = {}
        self.resuming = self._read_progress()
        if not self.resuming:
            self._append({"options": self.options})

    @property
    def progress_path(self) -> Path:
        return self.dest / PROGRESS_FILE

    def _read_progress(self) -> bool:
        if not self.progress_path.is_file():
            return False
        lines = self.progress_path.read_text(encoding="utf-8").splitlines()
        entries = []
        for number, line in enumerate(lines):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines) - 1:
                    break  # the line being appended when the run was killed: that source is redone
                raise UserError(f"{self.progress_path}: damaged progress file; delete it to start over"
                                ) from None
        if not entries or entries[0].get("options") != self.options:
            old = entries[0].get("options") if entries else None
            raise UserError(f"--dest: {self.dest} holds tiles made with other options ({old}); "
                            f"use an empty folder or delete {PROGRESS_FILE} there")
        for entry in entries[1:]:
            # Lines of an earlier thygan have no 'origins' but five-item rows; from_meta_row reads both.
            origins = read_origins(entry.get("origins") or {}, str(self.progress_path))
            self.finished[entry["source"]] = [
                LabelRecord.from_meta_row(row, str(self.progress_path), origins.get(str(row[0])))
                for row in entry["records"]]
        return True

    def _append(self, entry: dict) -> None:
        # One line per finished source, flushed to disk before the next source starts; a torn
        # last line is detected and ignored on resume.
        with open(self.progress_path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def tile_name(self, file_id: str, index: int) -> str:
        """The study's tile name ``{file_id}_{i}.{format}``."""
        return f"{file_id}_{index}.{self.fmt}"

    def has_tile(self, name: str) -> bool:
        """Whether an earlier, interrupted run of this export already wrote tile ``name``."""
        return self.resuming and (self.dest / name).is_file()

    def write_tile(self, name: str, rgb: np.ndarray) -> None:
        """Write one tile atomically (rgb: [H, W, 3] uint8)."""
        atomic_write_bytes(self.dest / name, encode_tile(rgb, self.fmt))

    def finish_source(self, source: str, records: list[LabelRecord]) -> None:
        """Record that every tile of ``source`` is on disk."""
        self.finished[source] = list(records)
        origins = origins_json({r.filename: r.origin for r in records if r.origin is not None})
        self._append({"source": source, "records": [record.meta_row() for record in records], "origins": origins})

    def write_dataset_json(self, records: list[LabelRecord], class_names: list[str] | None = None) -> Path:
        """Write dest/dataset.json atomically: the last step of an export."""
        return write_dataset_json(self.dest / DATASET_FILE, records, class_names)
