"""Named image sets for the domain-gap analysis: folders, datasets, or images drawn from a network.

A set is given on the command line as ``NAME=SOURCE[:key=value]...``:

- ``tt=data/tt_crops`` or ``tt=datasets/tt.zip``: every image of a folder or zip (recursively);
  labels and class names come from its ``dataset.json`` when it has integer labels. ``max=N`` keeps
  a fixed random subset of N images.
- ``gan=run/network-snapshot-000400.safetensors:class=all:seeds=0-749``: images generated on the
  fly (seeds inclusive, as in generate.py; ``trunc=``, ``noise=`` as there). Label = class index.
- A study recipe (gan_params JSON) is recognised and refused with a hint (``thygan.sources`` reads
  recipes for the classifier, not here yet); give the network, classes and seeds instead.
- ``color=orchid`` sets the set's plot colour (any matplotlib / CSS colour name or #rrggbb).

Each set has a content digest (the image bytes and labels, or the network weights and the
generation recipe), which keys the embedding cache: renaming a set or moving its folder reuses the
cache, changing one pixel does not.
"""

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from thygan.data.dataset import LABELS_FILE, ImageFolderDataset
from thygan.data.image_files import ImageFiles, decode_image
from thygan.errors import UserError
from thygan.gap.extractors import weights_digest
from thygan.io.network_file import load_network_file
from thygan.stylegan.generate_job import parse_seeds, resolve_classes
from thygan.stylegan.networks import NETWORKS
from thygan.stylegan.sampling import synthesize

SET_KEYS = ("max", "class", "seeds", "trunc", "noise", "color")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&+()>-]*$")  # ">": translated sets, e.g. IHC->H&E
SUBSET_SEED = 0  # the max=N subset is a fixed draw, so re-runs hit the cache


@dataclass(frozen=True)
class SetSpec:
    """One parsed ``NAME=SOURCE[:key=value]...`` argument."""

    name: str                                                # legend label, table key
    source: str                                              # folder, zip, network file or recipe
    options: dict[str, str] = field(default_factory=dict)    # the key=value parts


def parse_set_spec(text: str, *, flag: str = "--set") -> SetSpec:
    """Parse ``NAME=SOURCE[:key=value]...``; see the module docstring for the keys."""
    from matplotlib.colors import is_color_like

    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not rest:
        raise UserError(f"{flag}: expected NAME=SOURCE[:key=value]..., got '{text}'")
    if not NAME_PATTERN.match(name):
        raise UserError(f"{flag}: set name '{name}' must start with a letter or digit and use only letters, "
                        "digits, spaces and _ . & + ( ) > -")
    source, *parts = rest.split(":")
    options = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or key not in SET_KEYS or not value:
            raise UserError(f"{flag}: '{part}' in '{text}' is not key=value with key one of "
                            f"{', '.join(SET_KEYS)}")
        if key in options:
            raise UserError(f"{flag}: '{key}' given twice in '{text}'")
        if key == "color" and not is_color_like(value):
            raise UserError(f"{flag}: color={value} in '{text}' is not a colour name or #rrggbb")
        options[key] = value
    return SetSpec(name, source, options)


class ImageSet:
    """The images of one set, in a fixed order, with labels and a content digest.

    Attributes:
        name: The set's name.
        color: Plot colour or None (default palette).
        item_names: One name per image (relative path, or ``class{c}/seed{s}``).
        labels: int64 [N], -1 where unlabelled.
        class_names: Names of label indices, when known.
    """

    name: str
    color: str | None
    item_names: list[str]
    labels: np.ndarray
    class_names: list[str] | None

    def __len__(self) -> int:
        return len(self.item_names)

    def digest(self) -> str:
        """Hex SHA-256 of everything the images depend on."""
        raise NotImplementedError

    def images(self, start: int = 0) -> Iterator[np.ndarray]:
        """Yield images [H, W, 3] uint8 from item ``start`` on."""
        raise NotImplementedError

    def class_key(self, label: int) -> str:
        """How a label is named in tables: its class name when known, else its index."""
        if self.class_names is not None and 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W, C] uint8 with C in 1..4 -> [H, W, 3]: grey is repeated, alpha dropped."""
    if image.shape[2] >= 3:
        return image[:, :, :3]
    return np.repeat(image[:, :, :1], 3, axis=2)


class FolderSet(ImageSet):
    """The images of a folder or zip, labelled from its dataset.json when that has class indices."""

    def __init__(self, spec: SetSpec, *, flag: str = "--set"):
        unknown = set(spec.options) - {"max", "color"}
        if unknown:
            raise UserError(f"{flag} {spec.name}: {', '.join(sorted(unknown))} only apply to network sources")
        self.name, self.color = spec.name, spec.options.get("color")
        self._files = ImageFiles(spec.source, what=f"{flag} {spec.name}")
        if not self._files.names:
            raise UserError(f"{flag} {spec.name}: no image files in '{spec.source}'")
        names = list(self._files.names)
        labels = np.full(len(names), -1, dtype=np.int64)
        self.class_names = None
        if self._files.has(LABELS_FILE) and _has_labels(self._files.read(LABELS_FILE)):
            dataset = ImageFolderDataset(spec.source, use_labels=True)
            if dataset.has_onehot_labels:
                assert [dataset.image_name(i) for i in range(len(dataset))] == names
                labels = np.array([int(dataset.get_label(i).argmax()) for i in range(len(dataset))])
                self.class_names = dataset.class_names
        keep = _subset(len(names), spec.options.get("max"), flag=f"{flag} {spec.name}")
        self.item_names = [names[i] for i in keep]
        self.labels = labels[keep]
        self._digest = None

    def digest(self) -> str:
        if self._digest is None:
            h = hashlib.sha256(b"folder-set:v1\0")
            for name, label in zip(self.item_names, self.labels, strict=True):
                h.update(f"{name}\0{label}\0".encode())
                h.update(hashlib.sha256(self._files.read(name)).digest())
            h.update(json.dumps(self.class_names).encode())
            self._digest = h.hexdigest()
        return self._digest

    def images(self, start: int = 0) -> Iterator[np.ndarray]:
        for name in self.item_names[start:]:
            yield to_rgb(decode_image(self._files.read(name), name))


def _has_labels(data: bytes) -> bool:
    """Whether a dataset.json holds labels; a damaged one counts, so that ImageFolderDataset reports it."""
    try:
        content = json.loads(data)
    except ValueError:
        return True
    return not isinstance(content, dict) or content.get("labels") is not None


def _subset(num: int, max_text: str | None, *, flag: str) -> np.ndarray:
    """Indices of a fixed random subset of ``max`` items (file order kept), or all."""
    if max_text is None:
        return np.arange(num)
    if not max_text.isdigit() or int(max_text) < 1:
        raise UserError(f"{flag}: max={max_text} is not a positive number of images")
    if int(max_text) >= num:
        return np.arange(num)
    return np.sort(np.random.RandomState(SUBSET_SEED).permutation(num)[:int(max_text)])


class GeneratedSet(ImageSet):
    """Images drawn from a generator: a list of (class index, seed, label) jobs."""

    def __init__(self, name: str, *, color: str | None, G: torch.nn.Module, weights_file: Path,
                 jobs: list[tuple[int | None, int, int]], class_names: list[str] | None,
                 truncation_psi: float, noise_mode: str, device: torch.device, batch_size: int):
        self.name, self.color, self.G = name, color, G
        self._jobs, self._weights_file = jobs, weights_file
        self._psi, self._noise_mode = truncation_psi, noise_mode
        self._device, self._batch_size = device, batch_size
        self.item_names = [f"class{c}/seed{s:04d}" if c is not None else f"seed{s:04d}" for c, s, _ in jobs]
        self.labels = np.array([label for _, _, label in jobs], dtype=np.int64)
        self.class_names = class_names
        self._digest = None

    def digest(self) -> str:
        if self._digest is None:
            recipe = {"weights": weights_digest(self._weights_file), "jobs": self._jobs, "psi": self._psi,
                      "noise_mode": self._noise_mode, "version": "generated-set:v1"}
            self._digest = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()
        return self._digest

    def images(self, start: int = 0) -> Iterator[np.ndarray]:
        G = self.G.eval().requires_grad_(False).to(self._device)
        jobs = self._jobs[start:]
        while jobs:
            class_idx = jobs[0][0]
            run = 1
            while run < len(jobs) and jobs[run][0] == class_idx:
                run += 1
            seeds = [seed for _, seed, _ in jobs[:run]]
            for _, image in synthesize(G, seeds, class_idx, truncation_psi=self._psi,
                                       noise_mode=self._noise_mode, batch_size=self._batch_size,
                                       device=self._device):
                yield to_rgb(image)
            jobs = jobs[run:]


def _network_set(spec: SetSpec, *, device: torch.device, batch_size: int, flag: str) -> GeneratedSet:
    """``NAME=NETWORK:class=...:seeds=...``: the classes x seeds of generate.py."""
    where = f"{flag} {spec.name}"
    if "seeds" not in spec.options:
        raise UserError(f"{where}: a network source needs seeds=, e.g. "
                        f"{spec.name}={spec.source}:class=all:seeds=0-99")
    unknown = set(spec.options) - {"class", "seeds", "trunc", "noise", "color"}
    if unknown:
        raise UserError(f"{where}: {', '.join(sorted(unknown))} does not apply to a network source")
    try:
        seeds = parse_seeds(spec.options["seeds"])
        loaded, G = _load_generator(spec.source)
        classes = resolve_classes(spec.options.get("class"), G.c_dim, loaded.class_names)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    jobs = [(choice.index, seed, -1 if choice.index is None else choice.index)
            for choice in classes for seed in seeds]
    return GeneratedSet(spec.name, color=spec.options.get("color"), G=G, weights_file=loaded.weights_file,
                        jobs=jobs, class_names=loaded.class_names,
                        truncation_psi=_float_option(spec, "trunc", 1.0, where),
                        noise_mode=_noise_option(spec, where), device=device, batch_size=batch_size)


def _load_generator(network: str):
    """(LoadedNetworks, G_ema or G) of a network file."""
    loaded = load_network_file(network, registry=NETWORKS)
    G = loaded.networks.get("G_ema", loaded.networks.get("G"))
    if G is None:
        raise UserError(f"{network}: holds no generator (G_ema or G)")
    return loaded, G


def _float_option(spec: SetSpec, key: str, default: float, where: str) -> float:
    try:
        return float(spec.options.get(key, default))
    except ValueError:
        raise UserError(f"{where}: {key}={spec.options[key]} is not a number") from None


def _noise_option(spec: SetSpec, where: str) -> str:
    mode = spec.options.get("noise", "const")
    if mode not in ("const", "random", "none"):
        raise UserError(f"{where}: noise={mode} must be const, random or none")
    return mode


def is_recipe_file(path: Path) -> bool:
    """A gan_params recipe: a JSON object with 'classes' and 'seeds' (a checkpoint JSON has neither)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        content = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(content, dict) and "classes" in content and "seeds" in content


def _refuse_recipe(spec: SetSpec, *, flag: str) -> None:
    raise UserError(f"{flag} {spec.name}: gan_params recipes are not read here yet (only the classifier reads "
                    f"them, through thygan.sources); give NAME=NETWORK:class=C:seeds=A-B for each class instead")


def open_image_set(spec: SetSpec, *, device: torch.device | str = "cpu", batch_size: int = 8,
                   flag: str = "--set") -> ImageSet:
    """Open the set a spec describes (the source kind is recognised from the path).

    Args:
        spec: The parsed set argument.
        device: Where generated sets run their generator.
        batch_size: Images per generator forward pass.
        flag: The option name, for error messages.
    """
    device = torch.device(device)
    path = Path(spec.source)
    if is_recipe_file(path):
        _refuse_recipe(spec, flag=flag)
    network_stem = not path.exists() and "seeds" in spec.options  # a checkpoint named without its suffix
    if path.suffix.lower() in (".pkl", ".safetensors", ".json") or network_stem:
        return _network_set(spec, device=device, batch_size=batch_size, flag=flag)
    if not path.exists():
        raise UserError(f"{flag} {spec.name}: no such folder, zip or network file '{spec.source}'")
    return FolderSet(spec, flag=flag)
