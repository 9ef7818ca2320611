"""The ``translated`` source kind: labelled real tiles translated (e.g. H&E -> IHC), keeping their masks.

Entry (paths from the working directory, else beside the recipe)::

    {"kind": "translated", "network": "models/he2ihc.safetensors", "data": "datasets/CoNSeP/Train",
     "nr_types": 5}

``network`` is an image -> image generator of ``thygan translate train`` (G_A of a CycleGAN snapshot,
the only G of a pix2pix one, or a reference ``*_net_G_A.pth``); ``data`` a labelled folder in any layout
``thygan segment train --data`` reads (see :mod:`thygan.segment.data`). Every image is translated at its
own size (padded to the generator's multiple and cropped back), so the source's instance and type maps
stay aligned with it. Optional ``nr_types`` (default 0: instances only) as ``--nr-types``.

The cache folder is keyed by the generator's weights and the data folder's contents:
``<cache>/<key>-translated/00000.png`` + ``.npy``, one pair per source image in reading order.
"""

import json
from typing import Any

from thygan.io.atomic import atomic_write_text
from thygan.progress import progress
from thygan.sources import pairs
from thygan.sources.source import EntryContext, MaterialiseOptions, SyntheticItem, SyntheticSource


class TranslatedSource(SyntheticSource):
    """Labelled tiles through an image translation generator (see module docstring)."""

    kind = "translated"
    yields_masks = True

    def __init__(self, *, network: str, data: str, nr_types: int, context: EntryContext):
        self.network, self.data, self.nr_types, self.context = network, data, nr_types, context
        self._G = None
        self._samples = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any], context: EntryContext) -> "TranslatedSource":
        where = context.where
        pairs.check_keys(entry, where, required={"network", "data"}, optional={"nr_types"})
        return cls(network=pairs.path_value(entry, "network", where), data=pairs.path_value(entry, "data", where),
                   nr_types=pairs.number_value(entry, "nr_types", where, 0, low=0), context=context)

    def describe(self) -> str:
        return f"translated {self.data} by {self.network}"

    def labels(self) -> set[int]:
        return {pairs.SEGMENT_LABEL}

    def samples(self):
        """The labelled source tiles, read once (the plan counts them)."""
        if self._samples is None:
            from thygan.segment.data import read_dataset

            self._samples = read_dataset(pairs.find_folder(self.data, self.context, "data"), nr_types=self.nr_types)
        return self._samples

    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        return {pairs.SEGMENT_LABEL: len(self.samples())}

    def generator(self):
        if self._G is None:
            network = pairs.find_file(self.network, self.context, "network")
            self._G = pairs.translation_generator(network, self.context, input_nc=3,
                                                  expected="an image translation generator")
        return self._G

    def check(self) -> None:
        self.samples()
        self.generator()

    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        self.check()
        network = pairs.find_file(self.network, self.context, "network")
        data = pairs.find_folder(self.data, self.context, "data")
        folder = pairs.cache_folder(options.cache_dir, self.kind, network, data, f"nr_types={self.nr_types}")
        samples = self.samples()
        missing = [k for k in range(len(samples)) if not pairs.pair_paths(folder, f"{k:05d}")[1].is_file()]
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "cache.json", json.dumps({
                "network": str(network), "data": str(data), "nr_types": self.nr_types,
                "sources": [sample.name for sample in samples]}, indent=1) + "\n")
            from thygan.translate.inference import translate_images

            G = self.generator().to(options.device)
            for k in progress(missing, desc="translate tiles", leave=False):
                [image] = translate_images(G, [samples[k].image], device=options.device)
                pairs.write_pair(folder, f"{k:05d}", image, samples[k].inst, samples[k].types)
        options.log(f"{self.context.where}: translated: {len(samples)} tiles of {data} with their masks "
                    f"({len(samples) - len(missing)} cached, {len(missing)} translated)")
        return [pairs.pair_item(folder, f"{k:05d}", self.kind) for k in range(len(samples))]
