"""Step times: a child process's CPU time is counted, and the closing table lists every step."""

import subprocess
import sys

from thygan.pipeline.timing import StepTime, Stopwatch, format_step_times

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_stopwatch_counts_the_cpu_time_of_a_child_process():
    clock = Stopwatch()
    subprocess.run([sys.executable, "-c", BURN], check=True)
    wall, cpu = clock.elapsed()
    assert cpu is not None and cpu >= 0.3  # the child's busy loop (plus its interpreter start)
    assert wall >= 0.3 * 0.9 and wall < 60


def test_a_sleeping_child_costs_wall_clock_not_cpu():
    clock = Stopwatch()
    subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)"], check=True)
    wall, cpu = clock.elapsed()
    assert wall >= 0.5 and cpu < wall - 0.2


def test_table_lists_each_step_marks_reused_ones_and_totals_the_run():
    times = [StepTime("tiles", 2.4, 3.1), StepTime("gan-train", 250.0, 480.0),
             StepTime("splits", 1.0, 1.2, earlier=True), StepTime("report", 4.0, None)]
    text = format_step_times(times, total_seconds=262, load_start=0.5, load_end=1.25)
    lines = text.splitlines()
    assert "load average 0.50 at the start, 1.25 at the end" in lines[0]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == ["tiles", "gan-train", "splits", "report", "total"]
    assert rows["gan-train"].split()[1:] == ["4m", "10s", "8m", "00s"]
    assert rows["splits"].endswith("(earlier run, reused)")
    assert rows["report"].split()[-1] == "-"  # CPU unknown
    assert rows["total"].split()[1:3] == ["4m", "22s"]
    assert rows["total"].split()[-1] == "-"  # a step without CPU time: no CPU total


def test_cpu_total_sums_the_steps_run_now():
    times = [StepTime("tiles", 2, 3), StepTime("splits", 1, 100, earlier=True), StepTime("report", 1, 2)]
    total = format_step_times(times, total_seconds=3, load_start=None, load_end=None).splitlines()[-1]
    assert total.split()[1:] == ["3s", "5s"]



def test_long_step_names_keep_the_columns_aligned():
    times = [StepTime("tiles", 2, 3), StepTime("segment-infer-ihc-h-e", 10, 17)]
    lines = format_step_times(times, total_seconds=12, load_start=None, load_end=None).splitlines()[1:]
    assert len({len(line) for line in lines}) == 1  # header, rows and total end in the same column
