"""Recipe files: which synthetic sources a downstream training run adds to its real images.

A recipe is a JSON file in one of three shapes:

- the thyroid study's gan_params object (``data/gan_params/*.json``), read unchanged as one ``gan``
  source;
- one source with its kind: ``{"kind": "gan", "classes": ...}``;
- several: ``{"sources": [{"kind": "gan", ...}, {"kind": ..., ...}]}`` (an entry without a kind is a
  ``gan`` entry).

"None", "none", an empty string or no recipe at all means no synthetic data. Reading a recipe only
validates it; :meth:`Recipe.check` then checks every source (networks, classes) and
:meth:`Recipe.materialise` makes the images, so a bad entry costs no generated image.
"""

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError
from thygan.io.json_file import read_json
from thygan.sources.registry import DEFAULT_KIND, SOURCE_KINDS
from thygan.sources.source import EntryContext, MaterialiseOptions, SyntheticItem, SyntheticSource

NO_RECIPE = ("", "none")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file: its display name, the file, and its sources in order."""

    name: str                               # the file stem, e.g. cv_bi100
    source: str                             # the file, for messages
    sources: tuple[SyntheticSource, ...]

    def labels(self) -> set[int]:
        """Every downstream label the recipe can add."""
        return set().union(*(source.labels() for source in self.sources))

    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        """Synthetic images per downstream label (all sources), without generating any."""
        total: Counter[int] = Counter()
        for source in self.sources:
            total.update(source.plan(real_counts))
        return dict(sorted(total.items()))

    def check(self) -> None:
        """Check every source before any of them makes an image."""
        for source in self.sources:
            source.check()

    def check_crop(self, crop_size: int, *, flag: str = "--crop_size") -> None:
        """Refuse a crop larger than a source's images (a 512 px crop of a 64 px GAN image), before any."""
        for source in self.sources:
            side = source.image_side()
            if side is not None and side < crop_size:
                raise UserError(f"{flag}: {crop_size} px crops do not fit the {side} px images of {self.source} "
                                f"({source.describe()}); use {flag} {side} or less, or a generator of "
                                f"{crop_size} px or more")

    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        """Every source's images, made or taken from the cache; one count line per source in the log."""
        self.check()
        items = []
        for index, source in enumerate(self.sources):
            made = source.materialise(real_counts, options)
            counts = dict(sorted(Counter(item.label for item in made).items()))
            options.log(f"recipe {self.name}, source {index + 1}/{len(self.sources)} ({source.describe()}): "
                        f"{len(made)} images, per label {counts}")
            items.extend(made)
        return items


def is_no_recipe(path: str | os.PathLike | None) -> bool:
    return path is None or str(path).strip().lower() in NO_RECIPE


def recipe_name(path: str | os.PathLike | None) -> str:
    """A short display name: the file stem, or "none"."""
    return "none" if is_no_recipe(path) else Path(path).stem


def _parse_entry(entry, context: EntryContext) -> SyntheticSource:
    if not isinstance(entry, dict):
        raise UserError(f"{context.where}: expected a JSON object (a source such as the study's "
                        f"classes/seeds/network/class_map), got {entry!r}")
    body = dict(entry)
    kind = body.pop("kind", DEFAULT_KIND)
    if not isinstance(kind, str):
        raise UserError(f"{context.where}: 'kind' must be a name such as \"gan\", got {kind!r}")
    cls = SOURCE_KINDS.lookup(kind, lambda message: UserError(f"{context.where}: {message}"))
    return cls.from_entry(body, context)


def parse_recipe(content, *, name: str, source: str, folder: str | os.PathLike = ".",
                 network: str | None = None) -> Recipe:
    """Validate a recipe's JSON content (see module docstring); ``network`` replaces every generator."""
    if isinstance(content, dict) and "sources" in content:
        extra = sorted(set(content) - {"sources"})
        if extra:
            raise UserError(f"{source}: a recipe with 'sources' has no other keys, got '{extra[0]}'")
        entries = content["sources"]
        if not isinstance(entries, list) or not entries:
            raise UserError(f"{source}: 'sources' must be a non-empty list of source entries")
        wheres = [f"{source}: sources[{i}]" for i in range(len(entries))]
    else:
        entries, wheres = [content], [source]
    sources = tuple(_parse_entry(entry, EntryContext(where, Path(folder), network))
                    for entry, where in zip(entries, wheres))
    return Recipe(name, source, sources)


def read_recipe(path: str | os.PathLike | None, *, network: str | None = None) -> Recipe | None:
    """Read a recipe file; None for no recipe ("None", "none", empty or None).

    Args:
        path: The JSON file.
        network: --gan_network: a generator that replaces the one every ``gan`` source names.
    """
    if is_no_recipe(path):
        return None
    path = Path(path)
    content = read_json(path, what="gan_params JSON", missing="no such gan_params file (give a recipe JSON, or None)")
    return parse_recipe(content, name=path.stem, source=str(path), folder=path.parent, network=network)
