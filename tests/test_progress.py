"""thygan.progress: redrawn bars on a terminal, plain lines every few percent in a log file."""

import io
import re

import pytest
from tqdm import tqdm

from thygan.progress import LogProgress, is_terminal, progress


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("THYGAN_PROGRESS", raising=False)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("step", [5, 10, 25])
def test_log_file_gets_one_line_per_step_and_no_carriage_return(step):
    stream = io.StringIO()
    seen = list(progress(range(1000), desc="tiles", unit="tile", file=stream, step=step, interval=0))
    assert seen == list(range(1000))
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 100 // step
    percents = [int(re.match(r"tiles: +(\d+)% ", line).group(1)) for line in lines]
    assert percents == list(range(step, 101, step))
    assert lines[-1].startswith("tiles: 100% 1000/1000 ")


def test_log_lines_are_no_more_frequent_than_the_interval():
    stream = io.StringIO()
    bar = progress(total=100, desc="slow", file=stream, step=1, interval=7, leave=True)
    now = [bar.start_t]
    bar._time = lambda: now[0]
    for _ in range(100):
        now[0] += 2  # each item takes 2 s
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    # One line per 1 % would be 100; the 7 s interval at 2 s per item leaves one in four.
    assert len(lines) == 25
    assert lines[-1].startswith("slow: 100% 100/100")


def test_manual_updates_with_an_initial_count_and_unknown_totals():
    stream = io.StringIO()
    with progress(total=200, initial=100, desc="resumed", file=stream, step=10, interval=0) as bar:
        for _ in range(10):
            bar.update(10)
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == [f"{p}%" for p in range(60, 101, 10)]
    stream = io.StringIO()
    with progress(desc="open", file=stream, interval=0) as bar:
        bar.update(3)
        bar.update(4)
    assert stream.getvalue().splitlines()[-1].startswith("open: 7 ")


def test_short_transient_work_stays_silent_and_disable_silences_all():
    stream = io.StringIO()
    for _ in progress(range(50), file=stream, leave=False):  # default 10 s interval: too short to log
        pass
    assert stream.getvalue() == ""
    stream = io.StringIO()
    for _ in progress(range(50), file=stream, disable=True, interval=0):
        pass
    assert stream.getvalue() == ""


def test_tqdm_write_during_a_log_bar_is_its_own_line():
    stream = io.StringIO()
    bar = progress(range(100), desc="work", file=stream, step=50, interval=0)
    for index in bar:
        if index == 60:
            tqdm.write("error: something", file=stream)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == [lines[0], "error: something", lines[2]] and lines[2].startswith("work: 100%")


def test_terminal_gets_the_ordinary_redrawn_bar():
    stream = FakeTerminal()
    bar = progress(range(300), desc="tty", file=stream, mininterval=0)
    assert type(bar) is tqdm and not isinstance(bar, LogProgress)
    for _ in bar:
        pass
    assert stream.getvalue().count("\r") > 100  # one frame per redraw, as tqdm draws them
    assert is_terminal(FakeTerminal()) and not is_terminal(io.StringIO()) and not is_terminal(object())


def test_short_work_cut_off_by_an_error_leaves_no_line():
    stream = io.StringIO()
    with pytest.raises(RuntimeError), progress(range(10), desc="cut", file=stream) as bar:
        for index in bar:
            if index == 4:
                raise RuntimeError("bad input")
    assert stream.getvalue() == ""


def test_environment_overrides_the_terminal_detection(monkeypatch):
    monkeypatch.setenv("THYGAN_PROGRESS", "bar")
    assert type(progress(range(3), file=io.StringIO())) is tqdm
    monkeypatch.setenv("THYGAN_PROGRESS", "lines")
    assert isinstance(progress(range(3), file=FakeTerminal()), LogProgress)
    monkeypatch.setenv("THYGAN_PROGRESS", "")
    assert isinstance(progress(range(3), file=io.StringIO()), LogProgress)
