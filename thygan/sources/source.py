"""What every synthetic source kind provides: the item it yields and the four steps of its life.

A source is one entry of a recipe file, parsed by its kind (see ``thygan.sources``). The steps run
in this order, and only the last one makes images:

1. ``from_entry``  - validate the JSON entry; no file is opened beyond the recipe itself.
2. ``plan``        - images per downstream label it will add, from the real counts (ratios); cheap.
3. ``check``       - everything ``materialise`` needs (networks, classes, files); still no image.
4. ``materialise`` - write the images (and masks) into the content-keyed cache, or reuse them.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class SyntheticItem:
    """One image a source added: its cached file, downstream label, and mask where the kind has one."""

    path: Path
    label: int
    name: str                  # display name, unique within a run: "<kind>/<cache folder>/<file>"
    mask: Path | None = None   # instance/class mask beside the image (segmentation kinds)


@dataclass(frozen=True)
class EntryContext:
    """Where an entry came from, for messages and relative paths."""

    where: str            # "<recipe file>" or "<recipe file>: sources[i]", the prefix of every message
    folder: Path          # the recipe's folder: relative paths are tried there after the working directory
    network: str | None   # --gan_network: replaces the generator a source names, if given


@dataclass(frozen=True)
class MaterialiseOptions:
    """How the images are made; none of this changes which images a source yields."""

    cache_dir: Path                                   # root of the content-keyed cache
    device: str = "cpu"                               # where generators run
    batch_size: int = 16                              # images per generator call
    log: Callable[[str], None] = print                # receives the per-source count lines


class SyntheticSource(ABC):
    """Base class of the source kinds; a kind implements every abstract method below."""

    kind: ClassVar[str] = ""   # the registry name, set by the kind module
    yields_masks: ClassVar[bool] = False  # every item has a mask (the kinds segmentation training takes)

    @classmethod
    @abstractmethod
    def from_entry(cls, entry: dict[str, Any], context: EntryContext) -> "SyntheticSource":
        """Validate ``entry`` (the JSON object, ``kind`` removed); raise UserError naming ``context.where``."""

    @abstractmethod
    def labels(self) -> set[int]:
        """Downstream labels the source can add (checked against the run's label table)."""

    @abstractmethod
    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        """Images per downstream label, given the real training images per label; generates nothing."""

    @abstractmethod
    def check(self) -> None:
        """Everything ``materialise`` will need, checked now (e.g. the generator has the classes)."""

    @abstractmethod
    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        """Make (or reuse) the images in ``options.cache_dir``; log one count line per class or part."""

    def describe(self) -> str:
        """A few words for logs, e.g. ``gan models/gan_bi.pkl``."""
        return self.kind

    def image_side(self) -> int | None:
        """Side in px of the square images it makes, where known before making them (None otherwise):
        the classifier's crop is checked against it before any image is made."""
        return None


def resolve_file(path: str, context: EntryContext, *, exists: Callable[[Path], bool] = Path.is_file) -> Path | None:
    """``path`` as written (from the working directory), else beside the recipe; None if neither exists."""
    candidates = [Path(path)]
    if not Path(path).is_absolute():
        candidates.append(context.folder / path)
    return next((candidate for candidate in candidates if exists(candidate)), None)

