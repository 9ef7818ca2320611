"""gan_params recipes: which synthetic images a downstream training run adds, and their cache.

The thyroid study's schema, read unchanged (``data/gan_params/*.json``)::

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
"None", "none" or no recipe at all means no synthetic data.

Images are generated once into a cache keyed by the network's content and the class and
truncation (``<cache>/<sha256[:16]>-class<c>-psi<psi>/seed0000.jpeg``), so the folds of a
cross-validation, and recipes sharing seeds (bi100 and bi200), reuse them; an interrupted
generation continues with the missing seeds. JPEG at Pillow's default quality, as the study wrote.
"""

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError

NO_RECIPE = ("", "none")
RECIPE_KEYS = {"classes", "seeds", "network", "class_map", "truncation"}
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_LIST = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*%\s*$")


@dataclass(frozen=True)
class RecipeEntry:
    """One line of a recipe: GAN class ``gan_class`` -> downstream ``label``; seeds, or a ratio."""

    gan_class: int
    label: int
    seeds: tuple[int, ...] | None  # explicit seeds, or None when ``ratio`` decides the count
    ratio: float | None = None      # images per real training image of ``label``


@dataclass(frozen=True)
class Recipe:
    """A parsed gan_params file."""

    name: str               # the file stem, e.g. cv_bi100
    source: str             # the file, for messages
    network: str            # the network path as written
    entries: tuple[RecipeEntry, ...]
    truncation: float = 1.0

    def resolve_network(self) -> Path:
        """The network file: as written, else relative to the recipe's folder."""
        candidates = [Path(self.network)]
        if not Path(self.network).is_absolute():
            candidates.append(Path(self.source).parent / self.network)
        for path in candidates:
            if weights_file(path).is_file():
                return path
        raise UserError(f"{self.source}: network '{self.network}' not found (looked in the working directory and "
                        f"beside the recipe; pass --gan_network to use another file)")


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


def _int_list(content: dict, key: str, source: str) -> list[int]:
    values = content.get(key)
    if not isinstance(values, list) or not values or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise UserError(f"{source}: '{key}' must be a non-empty list of non-negative integers, got {values!r}")
    return values


def parse_recipe(content, *, name: str, source: str) -> Recipe:
    """Validate the JSON content of a recipe (see module docstring)."""
    if not isinstance(content, dict):
        raise UserError(f"{source}: expected a JSON object with classes, seeds, network and class_map")
    unknown = sorted(set(content) - RECIPE_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown key '{unknown[0]}' (expected {', '.join(sorted(RECIPE_KEYS))})")
    missing = [key for key in ("classes", "seeds", "network", "class_map") if key not in content]
    if missing:
        raise UserError(f"{source}: missing key '{missing[0]}'")
    classes = _int_list(content, "classes", source)
    class_map = _int_list(content, "class_map", source)
    seeds = content["seeds"]
    if not isinstance(seeds, list):
        raise UserError(f"{source}: 'seeds' must be a list with one entry per class, got {seeds!r}")
    if not len(classes) == len(seeds) == len(class_map):
        raise UserError(f"{source}: 'classes', 'seeds' and 'class_map' must have the same length "
                        f"(got {len(classes)}, {len(seeds)} and {len(class_map)})")
    repeated = [c for c, n in Counter(classes).items() if n > 1]
    if repeated:
        raise UserError(f"{source}: GAN class {repeated[0]} is listed twice in 'classes'")
    network = content["network"]
    if isinstance(network, list) and len(network) == 1:
        network = network[0]
    if not isinstance(network, str) or not network:
        raise UserError(f"{source}: 'network' must be one path (or a list holding one), got {content['network']!r}")
    truncation = content.get("truncation", 1.0)
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)):
        raise UserError(f"{source}: 'truncation' must be a number such as 0.7, got {truncation!r}")
    entries = []
    for index, (gan_class, spec, label) in enumerate(zip(classes, seeds, class_map)):
        seed_list, ratio = parse_seed_spec(spec, f"{source}: seeds[{index}]")
        entries.append(RecipeEntry(gan_class, label, seed_list, ratio))
    return Recipe(name, source, network, tuple(entries), float(truncation))


def read_recipe(path: str | os.PathLike | None) -> Recipe | None:
    """Read a gan_params file; None for no recipe ("None", "none", empty or None)."""
    if path is None or str(path).strip().lower() in NO_RECIPE:
        return None
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such gan_params file (give a recipe JSON, or None)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read gan_params JSON ({exc})") from None
    return parse_recipe(content, name=path.stem, source=str(path))


def recipe_name(path: str | os.PathLike | None) -> str:
    """A short display name: the file stem, or "none"."""
    return "none" if path is None or str(path).strip().lower() in NO_RECIPE else Path(path).stem


def resolve_seeds(recipe: Recipe, real_counts: dict[int, int]) -> list[tuple[RecipeEntry, tuple[int, ...]]]:
    """The seeds of every entry, ratios turned into counts of real training images per label."""
    resolved = []
    for entry in recipe.entries:
        if entry.seeds is not None:
            resolved.append((entry, entry.seeds))
            continue
        if entry.label not in real_counts:
            raise UserError(f"{recipe.source}: a ratio for label {entry.label}, but the training set has no "
                            f"real images of that label")
        resolved.append((entry, tuple(range(round(entry.ratio * real_counts[entry.label])))))
    return resolved


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, streamed (networks may be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_folder(cache_dir: str | os.PathLike, network_digest: str, gan_class: int, truncation: float) -> Path:
    return Path(cache_dir) / f"{network_digest[:16]}-class{gan_class}-psi{truncation:g}"


def seed_file(folder: Path, seed: int) -> Path:
    return folder / f"seed{seed:04d}.jpeg"


def synthetic_images(recipe: Recipe, real_counts: dict[int, int], *, cache_dir: str | os.PathLike,
                     network: str | os.PathLike | None = None, device: str = "cpu", batch_size: int = 16,
                     log: Callable[[str], None] = print) -> list[tuple[Path, int]]:
    """Generate (or reuse) the recipe's images; returns (image file, downstream label) pairs.

    Args:
        recipe: The parsed recipe.
        real_counts: Real training images per downstream label (for ratios and the log).
        cache_dir: Root of the image cache.
        network: Overrides the recipe's network file.
        device: Where the generator runs.
        batch_size: Images per generator call (the images do not depend on it).
        log: Receives one line per class with the number of images.
    """
    network_path = Path(network) if network is not None else recipe.resolve_network()
    if not weights_file(network_path).is_file():
        raise UserError(f"{network_path}: no such network file (a .pkl, or a checkpoint's .safetensors)")
    digest = file_digest(weights_file(network_path))
    pairs, generator = [], None
    for entry, seeds in resolve_seeds(recipe, real_counts):
        folder = cache_folder(cache_dir, digest, entry.gan_class, recipe.truncation)
        missing = [seed for seed in seeds if not seed_file(folder, seed).is_file()]
        if missing:
            generator = generator or _load_generator(network_path, recipe)
            _check_class(generator, entry.gan_class, recipe, network_path)
            _generate(generator, folder, missing, entry.gan_class, recipe, network_path, device, batch_size)
        pairs.extend((seed_file(folder, seed), entry.label) for seed in seeds)
        log(f"gan_params {recipe.name}: GAN class {entry.gan_class} -> label {entry.label}: {len(seeds)} images "
            f"({len(seeds) - len(missing)} cached, {len(missing)} generated)")
    return pairs


def weights_file(network_path: Path) -> Path:
    """The file holding a network's tensors: the .pkl itself, or a checkpoint's .safetensors."""
    from thygan.io.checkpoint import checkpoint_paths

    return network_path if network_path.suffix == ".pkl" else checkpoint_paths(network_path)[0]


def _load_generator(network_path: Path, recipe: Recipe):
    from thygan.io.network_file import load_network_file

    loaded = load_network_file(network_path)
    if "G_ema" not in loaded.networks:
        raise UserError(f"{network_path}: holds no G_ema generator (needed by {recipe.source})")
    return loaded.networks["G_ema"]


def _check_class(G, gan_class: int, recipe: Recipe, network_path: Path) -> None:
    if G.c_dim == 0:
        raise UserError(f"{recipe.source}: {network_path} is unconditional; its 'classes' cannot be chosen")
    if gan_class >= G.c_dim:
        raise UserError(f"{recipe.source}: class {gan_class} is not in the network {network_path} "
                        f"(it has classes 0-{G.c_dim - 1})")


def _generate(G, folder: Path, seeds: list[int], gan_class: int, recipe: Recipe, network_path: Path,
              device: str, batch_size: int) -> None:
    import PIL.Image

    from thygan.io.atomic import atomic_path, atomic_write_text
    from thygan.progress import progress
    from thygan.stylegan.sampling import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "cache.json", json.dumps({
        "network": str(network_path), "class": gan_class, "truncation": recipe.truncation, "noise_mode": "const",
        "naming": "seed{seed:04d}.jpeg; z = RandomState(seed).randn(z_dim), as generate.py"}, indent=1) + "\n")
    G = G.to(device)
    images = synthesize(G, seeds, gan_class, truncation_psi=recipe.truncation, batch_size=batch_size, device=device)
    for seed, image in progress(images, total=len(seeds), desc=f"GAN class {gan_class}", unit="img",
                                  leave=False):
        with atomic_path(seed_file(folder, seed)) as tmp:
            PIL.Image.fromarray(image).save(tmp, format="JPEG")
