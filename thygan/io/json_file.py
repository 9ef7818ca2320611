"""Reading a JSON file a user handed over: its content, or one UserError line naming the file."""

import json
import os
from pathlib import Path
from typing import Any

from thygan.errors import UserError


def read_json(path: str | os.PathLike, *, what: str, missing: str | None = None) -> Any:
    """The parsed content of ``path``.

    Args:
        path: The file.
        what: What the file is, for messages: ``"split file"`` -> ``x.json: cannot read split file (...)``.
        missing: The message after ``{path}: `` for a file that does not exist; default the same
            "cannot read" line as any other unreadable file.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: {missing}" if missing else f"{path}: cannot read {what} ({exc})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read {what} ({exc})") from None
