"""One pass of a detector over an image source into an accumulator: checkpointed, resumable, cached.

A pass over 50k images takes hours on a CPU, so while it runs its accumulator state is saved every
few minutes to ``<entry>.partial.npz`` in the cache folder; a re-run with the same source, detector
and accumulator continues from there (sources are deterministic and start at any item). A finished
real-set pass is kept as ``<entry>.npz`` and reused by every later evaluation; generated-image passes
are not kept (the network changes), only their partial file lives until the pass ends.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from thygan.metrics.stats_cache import load_npz, save_npz, stats_key
from thygan.progress import progress

_ITEMS_KEY = "pass_items"  # items consumed, stored beside the accumulator's own arrays


def run_pass(source, extract: Callable[[torch.Tensor], torch.Tensor], accumulator, *,
             batch_size: int = 32,                  # images per detector call
             checkpoint: Path | None = None,        # partial-state file; None = no checkpoints
             checkpoint_seconds: float = 300.0,     # time between checkpoints
             desc: str = "",                        # progress-bar label
             verbose: bool = False):                # show a progress bar
    """Feed ``extract(batch)`` of every batch of ``source`` to ``accumulator``; returns the accumulator.

    With ``checkpoint``, a saved partial state is resumed from, and state is saved periodically.
    """
    start = 0
    saved = load_npz(checkpoint) if checkpoint is not None else None
    if saved is not None and _ITEMS_KEY in saved:
        start = int(saved.pop(_ITEMS_KEY))
        accumulator = type(accumulator).from_state(saved)
    done, last_save = start, time.monotonic()
    bar = progress(total=len(source), initial=start, desc=desc, unit="img", disable=not verbose, leave=False)
    with bar:
        for images in source.batches(start, batch_size):
            accumulator.update(extract(images))
            done += len(images)
            bar.update(len(images))
            due = time.monotonic() - last_save > checkpoint_seconds and done < len(source)
            if checkpoint is not None and due:
                save_npz(checkpoint, {**accumulator.state(), _ITEMS_KEY: np.array(done)})
                last_save = time.monotonic()
    return accumulator


def accumulator_descriptor(accumulator) -> str:
    """What distinguishes accumulators of one kind (a bank's cap, IS's split layout)."""
    extra = {"bank": lambda a: f"{a.max_items}", "splitscores": lambda a: f"{a.num_items}x{a.num_splits}"}
    describe = extra.get(accumulator.kind)
    return accumulator.kind + (describe(accumulator) if describe else "")


def statistics(source, extract: Callable[[torch.Tensor], torch.Tensor], accumulator, *, extractor_id: str,
               extractor_name: str, cache: Path, keep: bool, batch_size: int = 32, verbose: bool = False,
               desc: str = ""):
    """The accumulator after a pass over ``source``: from the cache when ``keep`` and present, else computed.

    Sources without an identity are computed without checkpoints and never cached.

    Args:
        extractor_id: Weights hash (plus the output used, e.g. 'features'/'probabilities').
        extractor_name: Short name for the file name ('inception', 'vgg16').
        keep: Store the finished result for reuse (real sets); otherwise only checkpoint.
    """
    if source.identity is None:
        return run_pass(source, extract, accumulator, batch_size=batch_size, desc=desc, verbose=verbose)
    descriptor = accumulator_descriptor(accumulator)
    key = stats_key("thygan-metrics-v1", source.identity, extractor_id, descriptor, len(source))
    entry = cache / f"{source.label}-{extractor_name}-{descriptor}-{key}"
    final, partial = entry.with_name(entry.name + ".npz"), entry.with_name(entry.name + ".partial.npz")
    if keep and (saved := load_npz(final)) is not None:
        return type(accumulator).from_state(saved)
    accumulator = run_pass(source, extract, accumulator, batch_size=batch_size, checkpoint=partial, desc=desc,
                           verbose=verbose)
    if keep:
        save_npz(final, accumulator.state())
    partial.unlink(missing_ok=True)
    return accumulator
