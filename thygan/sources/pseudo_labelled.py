"""The ``pseudo_labelled`` source kind: HoVer-Net's own predictions on synthetic tiles, kept where confident.

Entry (paths from the working directory, else beside the recipe)::

    {"kind": "pseudo_labelled", "network": "runs-segment/00002-hovernet/hovernet-snapshot-000100.safetensors",
     "images": "generated/class0", "threshold": 0.8, "min_instances": 3}

``network`` is a HoVer-Net of ``thygan segment train`` (or a reference ``hovernet_*.tar``); ``images`` a
folder of tiles (GAN images of ``generate.py``, or the output of ``thygan translate run``). Every tile is
segmented as ``thygan segment infer tile`` does; its confidence is the mean nucleus (NP) probability
over the pixels of its predicted instances. A tile is kept when its confidence is at least
``threshold`` (default 0.8) and it holds at least ``min_instances`` nuclei (default 1). Types come from
the network's type branch where it has one.

All tiles are segmented once into the cache, keyed by the network's weights and the image folder's
contents (``<cache>/<key>-pseudo_labelled/00000.png`` + ``.npy``, confidences in ``scores.json``); the
threshold is applied afterwards, so trying another threshold segments nothing again. The plan counts
every tile: what the threshold keeps is known only after segmenting.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.progress import progress
from thygan.sources import pairs
from thygan.sources.source import EntryContext, MaterialiseOptions, SyntheticItem, SyntheticSource


def confidence(np_prob: np.ndarray, inst: np.ndarray) -> float:
    """Mean NP probability over the instance pixels (0 where there is no instance)."""
    inside = inst > 0
    return float(np_prob[inside].mean()) if inside.any() else 0.0


class PseudoLabelledSource(SyntheticSource):
    """Confident HoVer-Net predictions on a folder of tiles (see module docstring)."""

    kind = "pseudo_labelled"
    yields_masks = True

    def __init__(self, *, network: str, images: str, threshold: float, min_instances: int, context: EntryContext):
        self.network, self.images, self.threshold = network, images, threshold
        self.min_instances, self.context = min_instances, context
        self._net = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any], context: EntryContext) -> "PseudoLabelledSource":
        where = context.where
        pairs.check_keys(entry, where, required={"network", "images"}, optional={"threshold", "min_instances"})
        threshold = pairs.number_value(entry, "threshold", where, 0.8, low=0, kind=float)
        if threshold > 1:
            raise UserError(f"{where}: 'threshold' is a mean probability (0-1), got {threshold:g}")
        return cls(network=pairs.path_value(entry, "network", where), images=pairs.path_value(entry, "images", where),
                   threshold=threshold, min_instances=pairs.number_value(entry, "min_instances", where, 1, low=0),
                   context=context)

    def describe(self) -> str:
        return f"pseudo_labelled {self.images} by {self.network}"

    def labels(self) -> set[int]:
        return {pairs.SEGMENT_LABEL}

    def tiles(self) -> list[Path]:
        from thygan.data.image_files import folder_images

        folder = pairs.find_folder(self.images, self.context, "images")
        tiles = folder_images(folder)
        if not tiles:
            raise UserError(f"{self.context.where}: no images (png, jpg, tif, bmp, ...) in {folder}")
        return tiles

    def plan(self, real_counts: dict[int, int]) -> dict[int, int]:
        return {pairs.SEGMENT_LABEL: len(self.tiles())}

    def model(self):
        """(HoVer-Net in eval mode, input side, output side), loaded once."""
        if self._net is None:
            from thygan.segment.weights import load_model

            path = pairs.find_file(self.network, self.context, "network")
            try:
                net, input_size, _ = load_model(path)
            except UserError as exc:
                raise UserError(f"{self.context.where}: not a HoVer-Net: {exc}") from None
            self._net = net, input_size, net.output_size(input_size)
        return self._net

    def check(self) -> None:
        self.tiles()
        self.model()

    def materialise(self, real_counts: dict[int, int], options: MaterialiseOptions) -> list[SyntheticItem]:
        self.check()
        network = pairs.find_file(self.network, self.context, "network")
        images = pairs.find_folder(self.images, self.context, "images")
        tiles = self.tiles()
        folder = pairs.cache_folder(options.cache_dir, self.kind, network, images)
        scores_file = folder / "scores.json"
        scores = json.loads(scores_file.read_text()) if scores_file.is_file() else {}
        missing = [k for k in range(len(tiles)) if f"{k:05d}" not in scores or
                   not pairs.pair_paths(folder, f"{k:05d}")[1].is_file()]
        if missing:
            self._segment(folder, tiles, missing, scores, options)
        kept = [k for k in range(len(tiles)) if scores[f"{k:05d}"]["confidence"] >= self.threshold
                and scores[f"{k:05d}"]["instances"] >= self.min_instances]
        options.log(f"{self.context.where}: pseudo_labelled: {len(kept)} of {len(tiles)} tiles kept (confidence >= "
                    f"{self.threshold:g}, >= {self.min_instances} nuclei; {len(tiles) - len(missing)} cached, "
                    f"{len(missing)} segmented)")
        return [pairs.pair_item(folder, f"{k:05d}", self.kind) for k in kept]

    def _segment(self, folder: Path, tiles: list[Path], missing: list[int], scores: dict,
                 options: MaterialiseOptions) -> None:
        import PIL.Image

        from thygan.segment.predict import segment_image

        folder.mkdir(parents=True, exist_ok=True)
        net, input_size, output_size = self.model()
        net = net.to(options.device)
        for k in progress(missing, desc="pseudo labels", leave=False):
            with PIL.Image.open(tiles[k]) as opened:
                image = np.asarray(opened.convert("RGB"))
            inst, records, maps = segment_image(net, image, input_size=input_size, output_size=output_size,
                                                batch_size=options.batch_size, device=options.device)
            types = None
            if maps.tp is not None:
                lut = np.zeros(int(inst.max()) + 1, np.int32)
                for i, record in records.items():
                    lut[int(i)] = record["type"] or 0
                types = lut[inst]
            pairs.write_pair(folder, f"{k:05d}", image, inst, types)
            scores[f"{k:05d}"] = {"source": tiles[k].name, "confidence": confidence(maps.np_prob, inst),
                                  "instances": int(len(records))}
            atomic_write_text(folder / "scores.json", json.dumps(scores, indent=1) + "\n")
