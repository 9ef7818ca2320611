"""Progress bars that suit both a terminal and a batch scheduler's log file.

On a terminal, :func:`progress` is plain tqdm: one bar redrawn in place with carriage returns.
Written to a file or a pipe (SGE / SLURM logs, ``| tee``), those redraws pile up as thousands of
``\\r`` frames on one "line"; there :class:`LogProgress`, a tqdm subclass, prints one ordinary line
each time the work passes another ``step`` percent, but no more often than every ``interval``
seconds (whichever is rarer), and a last line when the work ends. Work of unknown length gets a
line every ``interval`` seconds. It keeps tqdm's whole interface (``update``, ``set_postfix``,
``tqdm.write``...), so callers need not know which one they hold. A Jupyter kernel's output, no
tty but able to redraw, gets the bar; ``THYGAN_PROGRESS=bar`` or ``=lines`` overrides the choice.

No domain imports: this module sits at the bottom of the package's import order.
"""

import math
import os
import sys
from collections.abc import Iterable
from typing import IO

from tqdm import tqdm

STEP_PERCENT = 5.0     # a log line each time this share of the work is done
INTERVAL_SECONDS = 10  # ... but no more often than this
ENV_CHOICE = "THYGAN_PROGRESS"  # bar | lines: override the terminal detection
_LINE_FORMAT = "{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_OPEN_FORMAT = "{n_fmt} [{elapsed}, {rate_fmt}{postfix}]"  # unknown total


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (the only place a redrawn bar reads well)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def draws_bars(stream) -> bool:
    """Whether to redraw a bar on ``stream``: a terminal or a Jupyter kernel's output, unless the
    environment variable ``THYGAN_PROGRESS`` says ``bar`` (always) or ``lines`` (never)."""
    choice = os.environ.get(ENV_CHOICE, "").strip().lower()
    if choice in ("bar", "lines"):
        return choice == "bar"
    # A notebook's stderr is no tty, yet it renders carriage returns as a redrawn line.
    in_notebook = "ipykernel" in sys.modules and stream in (sys.stdout, sys.stderr)
    return in_notebook or is_terminal(stream)


class LogProgress(tqdm):
    """tqdm for log files: whole lines at every ``step`` percent, never a carriage return.

    Args:
        step: Percent of the total between lines.
        interval: Least seconds between lines; with an unknown total, the seconds between lines.
        *args, **kwargs: As tqdm.
    """

    def __init__(self, *args, step: float = STEP_PERCENT, interval: float = INTERVAL_SECONDS, **kwargs):
        self._step, self._interval = step, interval
        self._line_n, self._line_t = None, None
        # Wake display() at each step's worth of items (known total) rather than each 0.1 s; it
        # decides itself whether a line is due.
        kwargs.setdefault("mininterval", 0 if self._total_of(args, kwargs) else interval)
        kwargs.setdefault("miniters", self._step_items(self._total_of(args, kwargs)))
        super().__init__(*args, **kwargs)
        if not self.disable:
            self._line_n, self._line_t = self.n, self._time()

    @staticmethod
    def _total_of(args: tuple, kwargs: dict) -> float | None:
        total = kwargs.get("total")
        if total is None and args and hasattr(args[0], "__len__"):
            total = len(args[0])
        return total or None

    def _step_items(self, total: float | None) -> int:
        return max(1, math.floor(total * self._step / 100)) if total else 1

    def _bucket(self, n: float) -> int:
        return math.floor(100 * n / self.total / self._step + 1e-9)

    def _due(self) -> bool:
        if self._line_n is None or self.n == self._line_n:
            return False
        if self._time() - self._line_t < self._interval:
            return False
        return not self.total or self._bucket(self.n) > self._bucket(self._line_n)

    def _emit(self) -> None:
        # The bar_format is ours unless the caller chose one: numbers only, no drawn bar.
        fmt = self.format_dict
        if not self.bar_format:
            fmt["bar_format"] = ("{desc}: " if self.desc else "") + (_LINE_FORMAT if self.total else _OPEN_FORMAT)
        line = self.format_meter(**fmt)
        self.fp.write(line.replace("\r", "") + "\n")
        self.fp.flush()
        self._line_n, self._line_t = self.n, self._time()

    def display(self, msg=None, pos=None) -> bool:
        """Called by tqdm on each refresh: print a line when one is due, else nothing."""
        if msg is None and self._due():
            self._emit()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: lines already written stay (tqdm.write calls this around its message)."""

    def moveto(self, n: int) -> None:
        """No cursor movement in a log file (tqdm moves it to draw nested bars)."""

    def close(self) -> None:
        """A last line when the work moved since the previous one.

        Kept bars (``leave``) print it when their work is complete; any bar prints it once it lasted
        ``interval`` seconds or logged a line before. A short bar cut off by an error stays silent,
        so the error is the only line it leaves.
        """
        if getattr(self, "disable", True):
            return
        complete = not self.total or self.n >= self.total
        lasted = self._time() - self.start_t >= self._interval
        if self.n != self._line_n and ((self.leave and complete) or lasted or self._line_n != self.initial):
            self._emit()
        self.sp = None  # tqdm's close then skips its terminal clean-up ('\r' and the redraw)
        super().close()


def progress(iterable: Iterable | None = None, *, total: float | None = None, desc: str | None = None,
             unit: str = "it", leave: bool = True, disable: bool | None = False, file: IO[str] | None = None,
             **kwargs) -> tqdm:
    """A progress bar: tqdm on a terminal, :class:`LogProgress` lines in a file or pipe.

    Args:
        iterable: What to iterate over, as tqdm's first argument (None for manual ``update``).
        total: Number of items expected (default: ``len(iterable)`` where it has one).
        desc: Prefix of the bar or line.
        unit: Name of one item (``img``, ``tile``...).
        leave: Keep the finished bar on a terminal; in a log, also print a last line for short work.
        disable: True for no output at all; None is treated as False (the log mode is what tqdm's
            None used to guard against).
        file: Stream written to (default: sys.stderr at call time).
        **kwargs: Passed to tqdm (``initial``, ``position``...).
    """
    stream = sys.stderr if file is None else file
    cls = tqdm if draws_bars(stream) else LogProgress
    return cls(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=bool(disable), file=stream,
               **kwargs)
