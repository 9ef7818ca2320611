"""The ``gan`` source kind: classes and seeds of one conditional StyleGAN, the thyroid study's gan_params.

The study's schema, read unchanged (``data/gan_params/*.json``)::

    {"classes": [0, 1], "seeds": ["0-510", "0-400"],
     "network": ["models/gan_bi_017539.pkl"], "class_map": [0, 1]}

``classes[i]`` is a class of the conditional GAN, drawn with the seeds ``seeds[i]`` and given the
downstream label ``class_map[i]``. A seed range ``"a-b"`` is END-EXCLUSIVE, as in the study
(``"0-510"`` = seeds 0..509 = 510 images), unlike ``generate.py --seeds``, which is inclusive.
``"1,5,9"`` lists seeds. Backward-compatible extensions:

- a number instead of a range: ``510`` = ``"0-510"``;
- a ratio: ``"100%"`` = as many images as there are real training images of label ``class_map[i]``
  (``"50%"`` half as many), seeds from 0;
- ``"truncation"``: psi of the truncation trick (default 1, the study's);
- ``"network"`` may be a plain string.

A relative network path is looked up from the working directory, then from the recipe's folder.
Every class is checked against the generator before the first image is drawn.

Images are generated once into a cache keyed by the network's content and the class and
truncation (``<cache>/<sha256[:16]>-class<c>-psi<psi>/seed0000.jpeg``), so the folds of a
cross-validation, and recipes sharing seeds (bi100 and bi200), reuse them; an interrupted
generation continues with the missing seeds. JPEG at Pillow's default quality, as the study wrote.
The kind has no masks.
"""

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image
from torch import nn

from thygan.errors import UserError
from thygan.io.atomic import atomic_path, atomic_write_text
from thygan.io.checkpoint import checkpoint_paths
from thygan.io.digest import file_sha256
from thygan.io.network_file import load_network_file
from thygan.progress import progress
from thygan.sources.source import EntryContext, MaterialiseOptions, SyntheticItem, SyntheticSource, resolve_file
from thygan.stylegan.networks import NETWORKS
from thygan.stylegan.sampling import synthesize

KEYS = {"classes", "seeds", "network", "class_map", "truncation"}
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_LIST = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*%\s*$")


@dataclass(frozen=True)
class GanEntry:
    """One class of the recipe: GAN class ``gan_class`` -> downstream ``label``; seeds, or a ratio."""

    gan_class: int
    label: int
    seeds: tuple[int, ...] | None  # explicit seeds, or None when ``ratio`` decides the count
    ratio: float | None = None      # images per real training image of ``label``


def parse_seed_spec(value, where: str) -> tuple[tuple[int, ...] | None, float | None]:
    """One ``seeds`` entry -> (seeds, None) or (None, ratio); see module docstring."""
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a seed range such as \"0-510\", a count or \"100%\", got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise UserError(f"{where}: an image count cannot be negative, got {value}")
        return tuple(range(value)), None
    if isinstance(value, str):
        if match := _RANGE.match(value):
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise UserError(f"{where}: range '{value}' runs backwards (expected low-high, end-exclusive)")
            return tuple(range(low, high)), None
        if _LIST.match(value):
            return tuple(int(part) for part in value.split(",")), None
        if match := _RATIO.match(value):
            return None, float(match.group(1)) / 100
    raise UserError(f"{where}: malformed seeds {value!r} (expected \"0-510\" (end-exclusive), \"1,5,9\", "
                    f"a count such as 510, or a ratio such as \"100%\")")


def _int_list(content: dict, key: str, where: str) -> list[int]:
    values = content.get(key)
    if not isinstance(values, list) or not values or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise UserError(f"{where}: '{key}' must be a non-empty list of non-negative integers, got {values!r}")
    return values


def weights_file(network_path: Path) -> Path:
    """The file holding a network's tensors: the .pkl itself, or a checkpoint's .safetensors."""
    return network_path if network_path.suffix == ".pkl" else checkpoint_paths(network_path)[0]


def cache_folder(cache_dir: Path, network_digest: str, gan_class: int, truncation: float) -> Path:
    return Path(cache_dir) / f"{network_digest[:16]}-class{gan_class}-psi{truncation:g}"


def seed_file(folder: Path, seed: int) -> Path:
    return folder / f"seed{seed:04d}.jpeg"


class GanSource(SyntheticSource):
    """Seeds of chosen classes of one conditional generator (see module docstring)."""

    kind = "gan"

    def __init__(self, *, network: str, entries: tuple[GanEntry, ...], truncation: float, context: EntryContext):
        self.network, self.entries, self.truncation, self.context = network, entries, truncation, context
        self._G: nn.Module | None = None
        self._network_path: Path | None = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any], context: EntryContext) -> "GanSource":
        where = context.where
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise UserError(f"{where}: unknown key '{unknown[0]}' (expected {', '.join(sorted(KEYS))})")
        missing = [key for key in ("classes", "seeds", "network", "class_map") if key not in entry]
        if missing:
            raise UserError(f"{where}: missing key '{missing[0]}'")
        classes = _int_list(entry, "classes", where)
        class_map = _int_list(entry, "class_map", where)
        seeds = entry["seeds"]
        if not isinstance(seeds, list):
            raise UserError(f"{where}: 'seeds' must be a list with one entry per class, got {seeds!r}")
        if not len(classes) == len(seeds) == len(class_map):
            raise UserError(f"{where}: 'classes', 'seeds' and 'class_map' must have the same length "
                            f"(got {len(classes)}, {len(seeds)} and {len(class_map)})")
        repeated = [c for c, n in Counter(classes).items() if n > 1]
        if repeated:
            raise UserError(f"{where}: GAN class {repeated[0]} is listed twice in 'classes'")
        network = entry["network"]
        if isinstance(network, list) and len(network) == 1:
            network = network[0]
        if not isinstance(network, str) or not network:
            raise UserError(f"{where}: 'network' must be one path (or a list holding one), got {entry['network']!r}")
        truncation = entry.get("truncation", 1.0)
        if isinstance(truncation, bool) or not isinstance(truncation, (int, float)):
            raise UserError(f"{where}: 'truncation' must be a number such as 0.7, got {truncation!r}")
        entries = tuple(GanEntry(gan_class, label, *parse_seed_spec(spec, f"{where}: seeds[{index}]"))
                        for index, (gan_class, spec, label) in enumerate(zip(classes, seeds, class_map)))
        return cls(network=network, entries=entries, truncation=float(truncation), context=context)

    def describe(self) -> str:
        return f"gan {self.context.network or self.network}"

    def labels(self) -> set[int]:
        return {entry.label for entry in self.entries}

    def resolve_seeds(self, real_counts: dict[int, int]) -> list[tuple[GanEntry, tuple[int, ...]]]:
        """The seeds of every class, ratios turned into counts of real training images per label."""
        resolved = []
        for entry in self.entries:
            if entry.seeds is None:
                if entry.label not in real_counts:
                    raise UserError(f"{self.context.where}: a ratio for label {entry.label}, but the training set "
                                    f"has no real images of that label")
                resolved.append((entry, tuple(range(round(entry.ratio * real_counts[entry.label])))))
            else:
                resolved.append((entry, entry.seeds))
        return resolved

    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        counts: Counter[int] = Counter()
        for entry, seeds in self.resolve_seeds(real_counts):
            counts[entry.label] += len(seeds)
        return dict(sorted(counts.items()))

    def network_path(self) -> Path:
        """The generator file: --gan_network if given, else the recipe's, as written or beside the recipe."""
        if self._network_path is None:
            if self.context.network is not None:
                path = Path(self.context.network)
                if not weights_file(path).is_file():
                    raise UserError(f"--gan_network: {path}: no such network file (a .pkl, or a checkpoint's "
                                    f".safetensors)")
            else:
                path = resolve_file(self.network, self.context, exists=lambda p: weights_file(p).is_file())
                if path is None:
                    raise UserError(f"{self.context.where}: network '{self.network}' not found (looked in the "
                                    f"working directory and beside the recipe; pass --gan_network to use another "
                                    f"file)")
            self._network_path = path
        return self._network_path

    def generator(self) -> nn.Module:
        """G_ema of the network file, loaded once (CPU, eval mode)."""
        if self._G is None:
            path = self.network_path()
            loaded = load_network_file(path, registry=NETWORKS)
            if "G_ema" not in loaded.networks:
                raise UserError(f"{path}: holds no G_ema generator (needed by {self.context.where})")
            self._G = loaded.networks["G_ema"]
        return self._G

    def image_side(self) -> int:
        return self.generator().img_resolution

    def check(self) -> None:
        G, path = self.generator(), self.network_path()
        if G.c_dim == 0:
            raise UserError(f"{self.context.where}: {path} is unconditional; its 'classes' cannot be chosen")
        absent = [entry.gan_class for entry in self.entries if entry.gan_class >= G.c_dim]
        if absent:
            raise UserError(f"{self.context.where}: class {absent[0]} is not in the network {path} "
                            f"(it has classes 0-{G.c_dim - 1}); nothing was generated")

    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        self.check()
        path = self.network_path()
        digest = file_sha256(weights_file(path))
        items = []
        for entry, seeds in self.resolve_seeds(real_counts):
            folder = cache_folder(options.cache_dir, digest, entry.gan_class, self.truncation)
            missing = [seed for seed in seeds if not seed_file(folder, seed).is_file()]
            if missing:
                self._generate(folder, missing, entry.gan_class, options)
            files = [seed_file(folder, seed) for seed in seeds]
            items.extend(SyntheticItem(file, entry.label, f"gan/{folder.name}/{file.name}") for file in files)
            options.log(f"{self.context.where}: GAN class {entry.gan_class} -> label {entry.label}: {len(seeds)} "
                        f"images ({len(seeds) - len(missing)} cached, {len(missing)} generated)")
        return items

    def _generate(self, folder: Path, seeds: list[int], gan_class: int, options: MaterialiseOptions) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "cache.json", json.dumps({
            "network": str(self.network_path()), "class": gan_class, "truncation": self.truncation,
            "noise_mode": "const", "naming": "seed{seed:04d}.jpeg; z = RandomState(seed).randn(z_dim), as generate.py",
        }, indent=1) + "\n")
        G = self.generator().to(options.device)
        images = synthesize(G, seeds, gan_class, truncation_psi=self.truncation, batch_size=options.batch_size,
                            device=options.device)
        for seed, image in progress(images, total=len(seeds), desc=f"GAN class {gan_class}", leave=False):
            with atomic_path(seed_file(folder, seed)) as tmp:
                PIL.Image.fromarray(image).save(tmp, format="JPEG")
