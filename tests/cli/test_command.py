"""Errors from the CLI: one line, exit 2, and on a line of its own even when a progress bar was drawn."""

import re

import click
import pytest
from click.testing import CliRunner
from tqdm import tqdm

from thygan.cli.command import Command
from thygan.errors import UserError
from thygan.progress import progress


def rendered_lines(text: str) -> list[str]:
    """What a terminal shows: a carriage return goes back to the line's start, ESC[A one line up, and
    what is written next overwrites what was there."""
    screen, row, col = [[]], 0, 0
    for token in re.findall(r"\x1b\[A|\r|\n|[^\r\n\x1b]", text):
        if token == "\n":
            row, col = row + 1, 0
        elif token == "\r":
            col = 0
        elif token == "\x1b[A":
            row = max(0, row - 1)
        else:
            while len(screen) <= row:
                screen.append([])
            line = screen[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col], col = token, col + 1
    return ["".join(line).rstrip() for line in screen]


def failing_command(*bars):
    """A command that advances the bars ``bars()`` makes three times, then fails (the bars stay open)."""
    @click.command(cls=Command)
    def command():
        opened = [make() for make in bars]
        for _ in range(3):
            for bar in opened:
                bar.update()
        raise UserError("--thing: broken after three items")

    return command


MESSAGE = "error: --thing: broken after three items"


@pytest.mark.parametrize("leave", [False, True])
def test_an_error_under_a_terminal_bar_starts_its_own_line(leave):
    # A terminal bar (plain tqdm, as thygan.progress gives on a tty) leaves the cursor after its text.
    result = CliRunner().invoke(failing_command(lambda: tqdm(total=10, desc="work", leave=leave, mininterval=0)))
    assert result.exit_code == 2 and "work" in result.stderr
    assert [line for line in rendered_lines(result.stderr) if "error:" in line] == [MESSAGE]


def test_an_error_under_nested_terminal_bars_starts_its_own_line():
    result = CliRunner().invoke(failing_command(lambda: tqdm(total=10, desc="outer", mininterval=0),
                                                lambda: tqdm(total=10, desc="inner", leave=False, mininterval=0)))
    assert result.exit_code == 2
    assert [line for line in rendered_lines(result.stderr) if "error:" in line] == [MESSAGE]


def test_an_error_under_a_log_file_bar_is_a_line_of_its_own():
    result = CliRunner().invoke(failing_command(lambda: progress(total=10, desc="work", interval=0)))
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == MESSAGE
