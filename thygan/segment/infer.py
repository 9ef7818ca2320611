"""Inference on folders of tiles and on whole slides, writing the reference's outputs (``run_infer.py``).

Tile mode, per image: ``json/{name}.json`` ({"mag": null, "nuc": {id: {bbox, centroid, contour, type,
type_prob}}}), ``mat/{name}.mat`` (inst_map, inst_uid, inst_type, inst_centroid), ``overlay/{name}.png``
(contours in the type_info.json colours), ``qupath/{name}.tsv`` (QuPath point import: x, y, class, name,
colour as (r<<16)+(g<<8)+b), and ``geojson/{name}.geojson`` (one polygon detection per nucleus with its
classification; QuPath opens it with File > Import objects). Images with a JSON already are skipped when
``.thygan-settings.json`` says the same model and settings made them (thygan.runs.output_settings); outputs
of another model or settings are refused unless ``overwrite``.

Slide mode reads the slide in chunks (``chunk`` px plus a ``margin`` on every side, at the processing
resolution) where the tissue mask has tissue, and keeps the nuclei whose centroid lies in the chunk's core:
a nucleus cut by a chunk border is complete in the chunk that owns its centroid, so there is no seam and
no duplicate, and memory is bounded by one chunk whatever the slide size (the reference memory-maps the
whole slide's predictions: 44 GB at 40x). Each finished chunk is written to ``cache/{slide}/``, so a run
that stops resumes at the next chunk. Outputs: ``json/{slide}.json`` with ``mag`` = processing
magnification and slide coordinates at that resolution, GeoJSON and QuPath TSV; ``mask/`` and ``thumb/``
PNGs on request.

Windows within a tile or chunk: thygan.segment.predict (MONAI's SlidingWindowHoVerNetInferer on the
reference's grid, ``overlap`` / ``blend``). Slides are read through openslide by ``SlideSource`` rather than
MONAI's ``WSIReader``: its openslide backend gives the same pixels inside the slide, but black (alpha dropped)
where nothing was scanned, which the chunk margins past the slide edge read and the network would take for
dark tissue rather than glass, and it reads stored pyramid levels only (no ``--magnification`` between
levels); its other backends do not import here (cucim) or cannot decode JPEG svs tiles without imagecodecs
(tifffile).
tests/segment/test_infer_options.py checks all three readers on the bundled slide.
"""

import json
from pathlib import Path

import numpy as np
import torch

from thygan.data.image_files import folder_images
from thygan.errors import UserError
from thygan.io.atomic import atomic_path, atomic_write_text
from thygan.metrics.detector import module_fingerprint
from thygan.runs.output_settings import claim_outputs, same_settings
from thygan.segment.networks import HoVerNet
from thygan.segment.overlay import draw_overlay
from thygan.segment.postproc import instance_map, instance_records
from thygan.segment.predict import predict_maps, resolve_overlap, window_count


def _name(type_info: dict | None, t) -> str:
    return type_info[str(t)][0] if type_info and t is not None and str(t) in type_info else "nucleus"


def _colour(type_info: dict | None, t) -> list[int]:
    return list(type_info[str(t)][1]) if type_info and t is not None and str(t) in type_info else [255, 255, 0]


def write_json(path: Path, records: dict, mag: float | None) -> None:
    nuc = {str(i): rec for i, rec in records.items()}
    atomic_write_text(path, json.dumps({"mag": mag, "nuc": nuc}) + "\n")


def write_geojson(path: Path, records: dict, type_info: dict | None) -> None:
    """Polygon detections QuPath imports (objectType 'detection', classification name and colour)."""
    features = []
    for i, rec in records.items():
        ring = [list(map(float, p)) for p in rec["contour"]]
        ring.append(ring[0])
        props = {"objectType": "detection", "id": str(i)}
        if rec.get("type") is not None:
            props["classification"] = {"name": _name(type_info, rec["type"]), "color": _colour(type_info, rec["type"])}
            props["measurements"] = {"type_prob": rec["type_prob"]}
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": props})
    atomic_write_text(path, json.dumps({"type": "FeatureCollection", "features": features}) + "\n")


def write_qupath_tsv(path: Path, records: dict, type_info: dict | None) -> None:
    """The reference's QuPath v0.2.3 point import: x, y, class, name, colour int."""
    lines = ["x\ty\tclass\tname\tcolor"]
    for rec in records.values():
        r, g, b = _colour(type_info, rec.get("type"))
        t = rec.get("type")
        lines.append(f"{rec['centroid'][0]:.2f}\t{rec['centroid'][1]:.2f}\t{'' if t is None else t}\t"
                     f"{_name(type_info, t)}\t{(r << 16) + (g << 8) + b}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_mat(path: Path, inst: np.ndarray, records: dict, with_types: bool) -> None:
    import scipy.io

    ids = sorted(records)
    mat = {"inst_map": inst.astype(np.int32), "inst_uid": np.array(ids, np.int32).reshape(-1, 1),
           "inst_centroid": np.array([records[i]["centroid"] for i in ids], np.float64).reshape(-1, 2)}
    if with_types:
        mat["inst_type"] = np.array([records[i]["type"] for i in ids], np.int32).reshape(-1, 1)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        scipy.io.savemat(f, mat)


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def infer_tiles(net: HoVerNet, input_dir: str | Path, output_dir: str | Path, *, input_size: int, output_size: int,
                type_info: dict | None = None, batch_size: int = 8, device: torch.device | str = "cpu",
                overlap: int | str = 0, blend: str = "gaussian", draw_dot: bool = False, save_qupath: bool = True,
                overwrite: bool = False, verbose: bool = True) -> list[str]:
    """Segment every image of a flat folder; returns the names processed now (finished ones are skipped,
    all are redone with ``overwrite``). ``overlap`` / ``blend``: window overlap in output pixels and its
    blending (see thygan.segment.predict)."""
    from PIL import Image

    from thygan.progress import progress

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    overlap = resolve_overlap(overlap, blend, output_size)
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: no such folder (expected a folder of png/jpg/tif tiles)")
    paths = folder_images(input_dir)
    if not paths:
        raise UserError(f"{input_dir}: no images (png, jpg, tif, bmp, ...)")
    settings = {"model": module_fingerprint(net), "input_size": input_size, "output_size": output_size,
                "overlap": overlap, "blend": blend, "type_info": type_info, "draw_dot": draw_dot}
    claim_outputs(output_dir, settings, done_markers=[output_dir / "json" / f"{p.stem}.json" for p in paths],
                  overwrite=overwrite, flag="--output-dir")
    subdirs = ["json", "mat", "overlay", "geojson"] + (["qupath"] if save_qupath else [])
    for sub in subdirs:
        (output_dir / sub).mkdir(parents=True, exist_ok=True)
    todo = [p for p in paths if overwrite or not (output_dir / "json" / f"{p.stem}.json").is_file()]
    sizes = []
    for p in todo:
        with Image.open(p) as im:
            sizes.append(im.size)
    total = sum(window_count(h, w, output_size, overlap) for w, h in sizes)
    bar = progress(total=total, desc="tiles", unit="tile", disable=not verbose)
    done = []
    for path, (w, h) in zip(todo, sizes):
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise UserError(f"{path}: not a readable image ({exc})") from None
        maps = predict_maps(net, image, input_size=input_size, output_size=output_size, overlap=overlap,
                            blend=blend, batch_size=batch_size, device=device)
        inst = instance_map(maps.np_prob, maps.hv)
        records = instance_records(inst, maps.tp)
        name = path.stem
        write_mat(output_dir / "mat" / f"{name}.mat", inst, records, with_types=maps.tp is not None)
        _write_png(output_dir / "overlay" / f"{name}.png", draw_overlay(image, records, type_info, draw_dot=draw_dot))
        write_geojson(output_dir / "geojson" / f"{name}.geojson", records, type_info)
        if save_qupath:
            write_qupath_tsv(output_dir / "qupath" / f"{name}.tsv", records, type_info)
        write_json(output_dir / "json" / f"{name}.json", records, None)  # last: marks the image done
        done.append(name)
        bar.update(window_count(h, w, output_size, overlap))
    bar.close()
    return done


def tissue_mask(thumbnail: np.ndarray) -> np.ndarray:
    """The reference's WSI tissue mask on an overview: Otsu on grey, objects < 16x16 dropped, holes < 128x128
    filled, dilated by a disk of 16 (sizes in overview pixels, as the reference's 1.25x mask)."""
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu
    from skimage.morphology import dilation, disk, remove_small_holes, remove_small_objects

    grey = rgb2gray(thumbnail)
    if np.ptp(grey) == 0:
        return np.zeros(grey.shape, bool)
    mask = grey < threshold_otsu(grey)
    mask = remove_small_objects(mask, max_size=16 * 16 - 1)
    mask = remove_small_holes(mask, max_size=128 * 128)
    return dilation(mask, disk(16))


def reset_chunk_cache(cache: Path, settings: dict, *, verbose: bool = True) -> None:
    """Resume only what the same model and settings made: chunks cached under other settings (another
    model, overlap, chunk geometry or resolution) are removed, so a rerun never mixes the two. The record
    is the output folders' (thygan.runs.output_settings); a cache is redone rather than refused."""
    if same_settings(cache, settings):
        return
    stale = sorted(cache.glob("chunk_y*_x*.json"))
    if stale and verbose:
        print(f"{cache}: {len(stale)} cached chunks were made with another model or settings; segmenting again")
    claim_outputs(cache, settings, done_markers=stale, overwrite=True, flag=str(cache))


def infer_slide(net: HoVerNet, slide_path: str | Path, output_dir: str | Path, *, input_size: int,
                output_size: int, type_info: dict | None = None, batch_size: int = 8,
                device: torch.device | str = "cpu", overlap: int | str = 0, blend: str = "gaussian", chunk: int = 2048,
                margin: int = 128, level: int | None = None,
                magnification: float | None = None, mpp: float | None = None, mask_path: str | Path | None = None,
                save_mask: bool = False, save_thumb: bool = False, save_qupath: bool = True,
                verbose: bool = True) -> Path:
    """Segment one whole slide chunk by chunk (see the module docstring); returns the JSON written."""
    from PIL import Image

    from thygan.data.tiling import Box, SlideSource
    from thygan.progress import progress

    slide_path, output_dir = Path(slide_path), Path(output_dir)
    if not slide_path.is_file():
        raise UserError(f"{slide_path}: no such file (expected a whole slide openslide reads)")
    overlap = resolve_overlap(overlap, blend, output_size)
    if margin < (input_size - output_size) // 2:
        raise UserError(f"--margin {margin}: must be at least the network's context of "
                        f"{(input_size - output_size) // 2} px")
    src = SlideSource(slide_path, level=level, magnification=magnification, mpp=mpp)
    name = slide_path.stem
    cache = output_dir / "cache" / name
    for sub in ["json", "geojson", cache] + (["qupath"] if save_qupath else []):
        (output_dir / sub).mkdir(parents=True, exist_ok=True)
    settings = {"model": module_fingerprint(net), "input_size": input_size, "output_size": output_size,
                "overlap": overlap, "blend": blend, "chunk": chunk, "margin": margin, "level": level,
                "magnification": magnification, "mpp": mpp, "mask": None if mask_path is None else str(mask_path)}
    reset_chunk_cache(cache, settings, verbose=verbose)
    try:
        thumb = src.thumbnail()
        if mask_path is not None:
            with Image.open(mask_path) as im:
                mask = np.asarray(im.convert("L").resize((thumb.shape[1], thumb.shape[0]))) > 0
        else:
            mask = tissue_mask(thumb)
        sy, sx = thumb.shape[0] / src.height, thumb.shape[1] / src.width
        cores = []
        for y in range(0, src.height, chunk):
            for x in range(0, src.width, chunk):
                m = mask[int(y * sy):max(int((y + chunk) * sy), int(y * sy) + 1),
                         int(x * sx):max(int((x + chunk) * sx), int(x * sx) + 1)]
                if m.any():
                    cores.append((y, x))
        side = chunk + 2 * margin
        per_chunk = window_count(side, side, output_size, overlap)
        bar = progress(total=per_chunk * len(cores), desc=f"{name} tiles", unit="tile", disable=not verbose)
        for y, x in cores:
            part = cache / f"chunk_y{y:07d}_x{x:07d}.json"
            if not part.is_file():
                region = src.read(Box(x - margin, y - margin, side))
                maps = predict_maps(net, region, input_size=input_size, output_size=output_size, overlap=overlap,
                                    blend=blend, batch_size=batch_size, device=device)
                inst = instance_map(maps.np_prob, maps.hv)
                records = instance_records(inst, maps.tp, offset=(y - margin, x - margin))
                keep = [rec for rec in records.values()
                        if x <= rec["centroid"][0] < min(x + chunk, src.width)
                        and y <= rec["centroid"][1] < min(y + chunk, src.height)]
                atomic_write_text(part, json.dumps(keep))
            bar.update(per_chunk)
        bar.close()
        nuclei = {}
        for y, x in cores:
            for rec in json.loads((cache / f"chunk_y{y:07d}_x{x:07d}.json").read_text()):
                nuclei[len(nuclei) + 1] = rec
        power = src.slide.properties.get("openslide.objective-power")
        mag = float(power) / src.downsample if power else None
        if save_mask:
            (output_dir / "mask").mkdir(exist_ok=True)
            _write_png(output_dir / "mask" / f"{name}.png", (mask * 255).astype(np.uint8))
        if save_thumb:
            (output_dir / "thumb").mkdir(exist_ok=True)
            _write_png(output_dir / "thumb" / f"{name}.png", thumb)
    finally:
        src.close()
    write_geojson(output_dir / "geojson" / f"{name}.geojson", nuclei, type_info)
    if save_qupath:
        write_qupath_tsv(output_dir / "qupath" / f"{name}.tsv", nuclei, type_info)
    out = output_dir / "json" / f"{name}.json"
    write_json(out, nuclei, mag)
    return out
