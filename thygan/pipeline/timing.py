"""How long each pipeline step took: wall clock and CPU time, printed as one table when the pipeline ends.

CPU time is user + system time of this process and of the step processes it waited for (their data
loader workers included). Beside the wall clock it tells a busy machine from a slow step: on a quiet
machine wall ~ CPU / cores used, under load the wall clock stretches and CPU time barely moves. The
load average at the start and end is printed with the table for the same reason.
"""

import os
import time
from dataclasses import dataclass

from dnnlib.duration import format_duration

try:
    import resource
except ImportError:  # Windows: no getrusage, CPU time is left out
    resource = None


@dataclass
class StepTime:
    name: str
    seconds: float                      # wall clock
    cpu_seconds: float | None = None    # user + system time of the step's processes; None where unknown
    earlier: bool = False               # reused from an earlier run of the pipeline, not run now


def cpu_seconds() -> float | None:
    """User + system time so far of this process and of every child process it has waited for."""
    if resource is None:
        return None
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


class Stopwatch:
    """Wall and CPU seconds since it was made."""

    def __init__(self):
        self.wall_start, self.cpu_start = time.time(), cpu_seconds()

    def elapsed(self) -> tuple[float, float | None]:
        cpu = cpu_seconds()
        return time.time() - self.wall_start, None if cpu is None else cpu - self.cpu_start


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def format_step_times(times: list[StepTime], *, total_seconds: float, load_start: float | None,
                      load_end: float | None) -> str:
    """The closing table: one row per step, then the total of the steps run now."""
    def cpu(value: float | None) -> str:
        return "-" if value is None else format_duration(value)

    cores = os.cpu_count() or 1
    loads = "" if load_start is None or load_end is None else \
        f"; load average {load_start:.2f} at the start, {load_end:.2f} at the end, on {cores} cores"
    width = max([16] + [len(step.name) + 2 for step in times])
    lines = [f"Step times (wall clock and CPU time{loads}):", f"  {'step':<{width}}{'wall':>10}{'CPU':>10}"]
    for step in times:
        note = "  (earlier run, reused)" if step.earlier else ""
        lines.append(f"  {step.name:<{width}}{format_duration(step.seconds):>10}{cpu(step.cpu_seconds):>10}{note}")
    ran = [step for step in times if not step.earlier]
    cpu_total = None if any(step.cpu_seconds is None for step in ran) else sum(step.cpu_seconds for step in ran)
    lines.append(f"  {'total':<{width}}{format_duration(total_seconds):>10}{cpu(cpu_total):>10}")
    return "\n".join(lines)
