"""The ``pix2pix_masks`` source kind: new nucleus masks drawn from real ones, painted into H&E by pix2pix.

Entry (paths from the working directory, else beside the recipe)::

    {"kind": "pix2pix_masks", "network": "runs-translate/00001-masks2he/translate-snapshot-000200.safetensors",
     "masks": "datasets/pannuke/masks", "mask_types": 5, "seeds": "0-500",
     "size": 256, "retype_prob": 0.3}

``network`` is a mask -> H&E generator of ``thygan translate train --model pix2pix --mask_types T`` (its
G, or a reference ``*_net_G.pth``); ``masks`` a folder of the mask files ``thygan translate`` reads
(type-map PNGs, .npz with inst_map + inst_type, PanNuke .npy). Mask k is drawn by
:class:`thygan.translate.mask_sampler.MaskSampler` with seed k (as ``thygan translate sample-masks``);
the drawn instance and type map is the pair's label. ``seeds`` reads as the ``gan`` kind's: ``"0-500"``
(end-exclusive), ``"1,5,9"``, a count, or a ratio of the real training images (``"100%"``). Optional:
``size`` (px, default 256), ``retype_prob`` (default 0.3).

The cache folder is keyed by the generator's weights, the mask folder's contents and the sampler's
settings: ``<cache>/<key>-pix2pix_masks/seed00000.png`` + ``.npy``.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.progress import progress
from thygan.sources import pairs
from thygan.sources.gan import parse_seed_spec
from thygan.sources.source import EntryContext, MaterialiseOptions, SyntheticItem, SyntheticSource


class Pix2PixMasksSource(SyntheticSource):
    """Sampled masks -> H&E through a pix2pix generator (see module docstring)."""

    kind = "pix2pix_masks"
    yields_masks = True

    def __init__(self, *, network: str, masks: str, mask_types: int, seeds: tuple[int, ...] | None,
                 ratio: float | None, size: int, retype_prob: float, context: EntryContext):
        self.network, self.masks, self.mask_types = network, masks, mask_types
        self.seeds, self.ratio, self.size, self.retype_prob, self.context = seeds, ratio, size, retype_prob, context
        self._G = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any], context: EntryContext) -> "Pix2PixMasksSource":
        where = context.where
        pairs.check_keys(entry, where, required={"network", "masks", "mask_types", "seeds"},
                   optional={"size", "retype_prob"})
        seeds, ratio = parse_seed_spec(entry["seeds"], f"{where}: seeds")
        retype_prob = pairs.number_value(entry, "retype_prob", where, 0.3, low=0, kind=float)
        if retype_prob > 1:
            raise UserError(f"{where}: 'retype_prob' is a probability (0-1), got {retype_prob:g}")
        return cls(network=pairs.path_value(entry, "network", where), masks=pairs.path_value(entry, "masks", where),
                   mask_types=pairs.number_value(entry, "mask_types", where, None, low=1), seeds=seeds, ratio=ratio,
                   size=pairs.number_value(entry, "size", where, 256, low=16), retype_prob=retype_prob, context=context)

    def describe(self) -> str:
        return f"pix2pix_masks {self.network}"

    def labels(self) -> set[int]:
        return {pairs.SEGMENT_LABEL}

    def resolve_seeds(self, real_counts: dict[int, int]) -> tuple[int, ...]:
        if self.seeds is not None:
            return self.seeds
        return tuple(range(round(self.ratio * sum(real_counts.values()))))

    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        return {pairs.SEGMENT_LABEL: len(self.resolve_seeds(real_counts))}

    def image_side(self) -> int:
        return self.size

    def _paths(self) -> tuple[Path, Path]:
        return (pairs.find_file(self.network, self.context, "network"),
                pairs.find_folder(self.masks, self.context, "masks"))

    def generator(self):
        if self._G is None:
            network, _ = self._paths()
            from thygan.translate.masks import mask_input_channels

            self._G = pairs.translation_generator(
                network, self.context, input_nc=mask_input_channels(self.mask_types),
                expected=f"a pix2pix mask -> H&E generator for {self.mask_types} nucleus types")
        return self._G

    def _real_masks(self, folder: Path) -> list[Path]:
        from thygan.translate.masks import MASK_SUFFIXES

        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MASK_SUFFIXES and not p.name.startswith("."))
        if not paths:
            raise UserError(f"{self.context.where}: no mask files (.png type maps, .npz, PanNuke .npy) in {folder}")
        return paths

    def check(self) -> None:
        _, masks = self._paths()
        self._real_masks(masks)
        self.generator()

    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        self.check()
        network, masks = self._paths()
        seeds = self.resolve_seeds(real_counts)
        folder = pairs.cache_folder(options.cache_dir, self.kind, network, masks, f"types={self.mask_types}",
                                    f"size={self.size}", f"retype={self.retype_prob:g}")
        missing = [seed for seed in seeds if not pairs.pair_paths(folder, f"seed{seed:05d}")[1].is_file()]
        if missing:
            self._generate(folder, missing, network, masks, options)
        options.log(f"{self.context.where}: pix2pix_masks: {len(seeds)} mask -> H&E pairs "
                    f"({len(seeds) - len(missing)} cached, {len(missing)} generated)")
        return [pairs.pair_item(folder, f"seed{seed:05d}", self.kind) for seed in seeds]

    def _generate(self, folder: Path, seeds: list[int], network: Path, masks: Path,
                  options: MaterialiseOptions) -> None:
        from thygan.translate.inference import translate_images
        from thygan.translate.mask_sampler import MaskSampler
        from thygan.translate.masks import read_mask, render_mask

        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "cache.json", json.dumps({
            "network": str(network), "masks": str(masks), "mask_types": self.mask_types, "size": self.size,
            "retype_prob": self.retype_prob, "naming": "seed{seed:05d}: MaskSampler.sample(size, default_rng(seed))",
        }, indent=1) + "\n")
        try:
            sampler = MaskSampler([read_mask(p, self.mask_types) for p in self._real_masks(masks)],
                                  num_types=self.mask_types, retype_prob=self.retype_prob)
        except ValueError as exc:
            raise UserError(f"{self.context.where}: {masks}: {exc}") from None
        G = self.generator().to(options.device)
        for seed in progress(seeds, desc="pix2pix masks", leave=False):
            mask = sampler.sample(self.size, np.random.default_rng(seed))
            stacked = mask.stacked()
            [image] = translate_images(G, [stacked], device=options.device,
                                       to_input=lambda a: render_mask(a, self.mask_types))
            pairs.write_pair(folder, f"seed{seed:05d}", image, stacked[:, :, 0], stacked[:, :, 1])
