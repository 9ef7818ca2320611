"""Copy everything written to stdout/stderr into a log file as well (the run folder's log.txt)."""

import sys
from pathlib import Path


class _TeeStream:
    def __init__(self, stream, log_file):
        self.stream = stream
        self.log_file = log_file

    def write(self, text: str) -> int:
        self.log_file.write(text)
        self.log_file.flush()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log_file.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Tee:
    """Context manager: while active, stdout and stderr are also appended to ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> "Tee":
        self.log_file = open(self.path, "a", encoding="utf-8")
        self.saved = sys.stdout, sys.stderr
        sys.stdout = _TeeStream(sys.stdout, self.log_file)
        sys.stderr = _TeeStream(sys.stderr, self.log_file)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout, sys.stderr = self.saved
        self.log_file.close()
