"""The tick line: fixed-width numbers, and ``-`` for a lazy-regularization phase that did not run."""

import re

from thygan.stylegan.snapshot import Progress
from thygan.stylegan.tick_report import tick_line

TIMING = {"total_sec": 62, "sec_per_tick": 12.5, "sec_per_kimg": 1.29, "cpumem_gb": 1.5, "gpumem_gb": 0.0}
STATS = {"Loss/G/loss": {"n": 4, "mean": 0.5, "std": 0}, "Loss/D/loss": {"n": 4, "mean": 1.25, "std": 0},
         "Loss/pl_penalty": {"n": 2, "mean": 0.01, "std": 0}, "Loss/r1_penalty": {"n": 0, "mean": 0.0, "std": 0}}


def test_phases_that_did_not_run_show_a_dash():
    line = tick_line(Progress(cur_nimg=48_000, tick=12), TIMING, 0.143, STATS)
    assert re.fullmatch(r"tick 12 +kimg 48\.0 +time 1m 02s +sec/tick 12\.5 +sec/kimg 1\.29 +cpumem 1\.50 +"
                        r"gpumem 0\.00 +augment 0\.143 +loss/G 0\.500 +loss/D 1\.250 +r1 - +pl 0\.0100", line), line
    no_pl = {**STATS, "Loss/r1_penalty": {"n": 1, "mean": 0.02, "std": 0}}
    del no_pl["Loss/pl_penalty"]  # a tick in which the path-length phase never came due
    other = tick_line(Progress(cur_nimg=48_000, tick=12), TIMING, 0.143, no_pl)
    assert other.endswith("r1 0.0200  pl -") and "nan" not in line + other
    assert len(other) == len(line) - len("0.0100") + 1  # fields keep their width: columns line up
