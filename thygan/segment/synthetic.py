"""A segmentation recipe's synthetic image + mask pairs as training samples (``thygan segment train --recipe``).

The recipe is a file of :mod:`thygan.sources.recipe` whose sources all yield masks: ``pix2pix_masks``,
``translated`` and ``pseudo_labelled`` (see README, "Segmentation recipes"). Counts and ratios refer to
the real training images (a ratio ``"100%"`` adds as many pairs as there are real images). Every source is
checked (networks of the right kind, folders, masks) before the first image is made; the pairs are made
once into a content-keyed cache, then read back as :class:`thygan.segment.data.Sample` and appended to the
real samples, so training sees both alike (same windows, same augmentation, same loss).
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image

from thygan.errors import UserError
from thygan.segment.data import Sample, read_label
from thygan.sources.pairs import SEGMENT_LABEL
from thygan.sources.recipe import Recipe, read_recipe
from thygan.sources.registry import SOURCE_KINDS
from thygan.sources.source import MaterialiseOptions


def mask_kinds() -> list[str]:
    return sorted(name for name in SOURCE_KINDS.names() if SOURCE_KINDS.get(name).yields_masks)


def check_recipe(path: str | None, *, real_count: int) -> tuple[Recipe, dict[int, int]] | None:
    """(the recipe, its planned pairs) after checking every source; None for no recipe. Makes no image."""
    recipe = read_recipe(path)
    if recipe is None:
        return None
    for index, source in enumerate(recipe.sources):
        if not source.yields_masks:
            raise UserError(f"--recipe: {recipe.source}: source {index + 1} ({source.describe()}) yields no masks; "
                            f"a segmentation recipe takes the kinds {', '.join(mask_kinds())}")
    planned = recipe.plan({SEGMENT_LABEL: real_count})
    recipe.check()
    return recipe, planned


def synthetic_samples(path: str | None, *, real_count: int, nr_types: int, cache_dir: str | Path,
                      device: str = "cpu", log: Callable[[str], None] = print) -> list[Sample]:
    """The recipe's pairs (made, or read from ``cache_dir``) as samples; [] for no recipe.

    Args:
        path: The recipe file (None / "none": no synthetic data).
        real_count: Real training images (what ratios refer to).
        nr_types: The run's --nr-types: type ids must be below it; 0 drops the type maps.
        cache_dir: Root of the content-keyed cache.
        device: Where the sources' networks run.
        log: Receives the per-source count lines.
    """
    checked = check_recipe(path, real_count=real_count)
    if checked is None:
        return []
    recipe, _ = checked
    items = recipe.materialise({SEGMENT_LABEL: real_count}, MaterialiseOptions(Path(cache_dir), device=device,
                                                                                log=log))
    samples = []
    for item in items:
        with PIL.Image.open(item.path) as opened:
            image = np.asarray(opened.convert("RGB"))
        inst, types = read_label(item.mask)
        if nr_types and types is not None and types.max() >= nr_types:
            raise UserError(f"--recipe: {recipe.source}: {item.name} has nucleus type {int(types.max())}, but "
                            f"--nr-types {nr_types} allows types 0-{nr_types - 1}")
        samples.append(Sample(item.name, image, inst, types if nr_types else None))
    log(f"recipe {recipe.name}: {len(samples)} synthetic training images added to {real_count} real ones")
    return samples
