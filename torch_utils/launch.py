"""Run a training function in one process, in N spawned processes, or in each process torchrun started,
with its run folder made exactly once (rank 0) and handed to every process.

Usage (the GAN, the classifier and any later trainer)::

    run_dir, result = launch(prepare=lambda: make_run_folder(opts),   # rank 0 only; returns something picklable
                             work=functools.partial(train, opts),      # every process: work(prepared) -> result
                             processes=opts.gpus, device_type="cuda")

- Under torchrun (``WORLD_SIZE`` > 1) every process calls ``launch``: all join torchrun's process group,
  rank 0 runs ``prepare`` and broadcasts its result, every process runs ``work``.
- Otherwise ``prepare`` runs here; with ``processes`` > 1 the work runs in that many spawned processes
  that meet through a file in a temporary folder (no port to pick), and ``launch`` returns None as the
  result (the processes' results stay in the run folder); with 1 it runs here and its result is returned.

``work`` must be picklable for the spawned case (a module-level function or a functools.partial of one).
Model-agnostic: nothing here knows about GANs or classifiers.
"""

import os
import tempfile
from collections.abc import Callable
from typing import TypeVar

import torch

from torch_utils import distributed

P = TypeVar("P")
R = TypeVar("R")


def torchrun_world_size() -> int | None:
    """The number of processes torchrun started (its WORLD_SIZE), or None when not under torchrun.

    Raises:
        ValueError: WORLD_SIZE is set to something that is not a number.
    """
    value = os.environ.get("WORLD_SIZE")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={value!r} is not a process count (is this really a torchrun process?)") from None


def is_first_process() -> bool:
    """Rank 0 of torchrun's processes, or the only process (before any process group exists)."""
    return os.environ.get("RANK", "0") == "0"


def launch(*, prepare: Callable[[], P], work: Callable[[P], R], processes: int, device_type: str
           ) -> tuple[P, R | None]:
    """Run ``work(prepare())`` in one or more processes (see the module docstring).

    Args:
        prepare: Makes the run folder (or whatever every process needs); runs once, on rank 0.
        work: The training, run in every process after it joined the process group.
        processes: Processes to spawn when not under torchrun (1 = this process only).
        device_type: 'cuda' (nccl, one GPU per process) or 'cpu' (gloo, the cores shared out).

    Returns:
        (what ``prepare`` returned, what ``work`` returned in this process or None when spawned).
    """
    if (torchrun_world_size() or 1) > 1:
        info = distributed.init_from_environment(device_type)
        holder = [prepare() if info.rank == 0 else None]
        torch.distributed.broadcast_object_list(holder, src=0)
        try:
            local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
            return holder[0], _run(work, holder[0], info.local_rank, local_processes, device_type)
        finally:
            distributed.leave_process_group()
    prepared = prepare()
    if processes <= 1:
        return prepared, work(prepared)
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.abspath(os.path.join(tmp, ".torch_distributed_init"))
        torch.multiprocessing.spawn(_spawned, args=(work, prepared, processes, device_type, init_file),
                                    nprocs=processes)
    return prepared, None


def _run(work: Callable[[P], R], prepared: P, local_rank: int, local_processes: int, device_type: str) -> R:
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    else:  # CPU processes share the cores; more threads than cores makes every step many times slower
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_processes))
    return work(prepared)


def _spawned(rank: int, work: Callable[[P], R], prepared: P, world_size: int, device_type: str,
             init_file: str) -> None:
    distributed.init_from_file(init_file, rank=rank, world_size=world_size, device_type=device_type)
    try:
        _run(work, prepared, rank, world_size, device_type)
    finally:
        distributed.leave_process_group()
