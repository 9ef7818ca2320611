"""The `thygan` entry point, every sub-command's --help, summary (the import rules: tests/test_layers.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from thygan.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_unknown_command_is_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "thygan.cli.main_entry", "frobnicate"], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


def test_summary_of_a_preset_matches_the_reference_counts(golden_dir):
    reference = json.loads((golden_dir / "stylegan2_ada_keys.json").read_text())["configs"]["paper512_cond2"]
    result = CliRunner().invoke(cli, ["summary", "--cfg=paper512", "--resolution=512", "--c-dim=2"])
    assert result.exit_code == 0, result.output
    totals = {line.split()[0]: line.split()[2] for line in result.output.splitlines() if " total " in line}
    assert totals == {"G": f"{reference['G']['params']:,}", "D": f"{reference['D']['params']:,}"}


def test_summary_rejects_bad_resolution():
    result = CliRunner().invoke(cli, ["summary", "--resolution=100"])
    assert result.exit_code == 2 and "--resolution: 100 is not a power of two" in result.output
