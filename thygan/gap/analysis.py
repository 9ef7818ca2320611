"""The domain-gap analysis: embed named image sets, measure every pairwise gap, project with UMAP.

Reads top to bottom: options -> extractor -> sets -> embeddings (cached) -> gap table (+ unions) ->
UMAP 2-D and 3-D coordinates. Numbers and tables only: ``thygan.viz.gap_plots.draw_domain_gap``
draws the figures of a ``DomainGapResult``. ``thygan domain-gap`` and the DG_Visualization notebook
call the two in turn.

Files written to ``outdir``:
    options.json        the resolved options (written before any work)
    gap.csv, gap.md     one row per (pair of sets, class): Frechet, KID, domain acc. (with its 95 %
                        interval and verdict), kNN overlap
    umap_coords.csv     the UMAP 2-D and 3-D coordinates of every image
    embeddings/         the feature cache (unless ``cache_dir`` points elsewhere)
"""

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from thygan.device import pick_device
from thygan.errors import UserError
from thygan.gap.embeddings import Embedding, embed_set
from thygan.gap.extractors import FeatureExtractor, load_extractor
from thygan.gap.image_sets import ImageSet, SetSpec, open_image_set
from thygan.gap.measures import GapOptions
from thygan.gap.table import default_pairs, gap_rows, rows_to_markdown, write_tables
from thygan.gap.umap_fit import fit_umap
from thygan.io.atomic import atomic_write_text

MIN_UMAP_IMAGES = 5  # umap-learn's spectral initialisation needs a few more points than dimensions


@dataclass
class DomainGapOptions:
    """Everything a run depends on besides the sets; saved as options.json."""

    extractor: str = "inception"          # feature extractor registry name
    weights: str | None = None            # weights / checkpoint file for the extractor
    device: str = "auto"                  # auto | cpu | cuda
    batch_size: int = 32                  # images per extractor (and generator) call
    cache_dir: str | None = None          # feature cache; None = <outdir>/embeddings
    per_class: bool = True                # gap rows per class shared by both sets
    min_class_size: int = 10              # images a class needs in both sets for its row
    umap: bool = True                     # fit the UMAP projections and draw them
    umap_seed: int = 42                   # UMAP random_state (the study's)
    umap_neighbors: int = 15              # UMAP n_neighbors
    umap_min_dist: float = 0.1            # UMAP min_dist
    umap_epochs: int | None = None        # UMAP n_epochs; None = umap-learn's default
    markers_by_class: bool = False        # scatter marker shape per class
    gap: GapOptions = field(default_factory=GapOptions)  # settings of the measures
    progress: bool = True                 # tqdm bars


@dataclass
class DomainGapResult:
    """What a run produced (also on disk)."""

    embeddings: list[Embedding]           # the sets, then the unions
    rows: list[dict]                      # the gap table
    set_names: list[str]                  # the sets' names in order (the first len(set_names) embeddings)
    coords_2d: np.ndarray | None          # [N, 2] UMAP over the sets' images in order (None without UMAP)
    coords_3d: np.ndarray | None          # [N, 3]
    files: dict[str, Path]                # name -> path of every file written

    def table(self) -> str:
        """The gap table as markdown."""
        return rows_to_markdown(self.rows)


def union_embedding(name: str, parts: list[Embedding]) -> Embedding:
    """The images of several sets as one set (features concatenated; labels matched by class name)."""
    keys = np.concatenate([part.class_keys() for part in parts])
    class_names = sorted(set(keys.tolist()) - {""})
    labels = np.array([class_names.index(k) if k else -1 for k in keys.tolist()], dtype=np.int64)
    return Embedding(name, np.concatenate([p.features for p in parts]), labels,
                     [f"{p.name}/{item}" for p in parts for item in p.item_names], class_names or None, None)


def check_set_names(specs: list[SetSpec], unions: list[tuple[str, list[str]]]) -> None:
    """Refuse fewer than two sets, a name used twice, and unions of unknown sets."""
    names = [spec.name for spec in specs]
    everything = names + [name for name, _ in unions]
    duplicates = sorted({name for name in everything if everything.count(name) > 1})
    if duplicates:
        raise UserError(f"--set/--union: set name '{duplicates[0]}' is used twice")
    if len(specs) < 2:
        raise UserError("--set: give at least two image sets to compare")
    for name, members in unions:
        unknown = [m for m in members if m not in names]
        if unknown or len(members) < 2:
            raise UserError(f"--union {name}: expected two or more of the --set names ({', '.join(names)}), "
                            f"got {'+'.join(members)}")


def _pairs(embeddings: list[Embedding], unions: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """Every pair except a union with one of its own members (they share images)."""
    members = {name: set(parts) for name, parts in unions}
    return [(a, b) for a, b in default_pairs([e.name for e in embeddings])
            if b not in members.get(a, ()) and a not in members.get(b, ())]


def coordinates_csv(embeddings: list[Embedding], coords_2d: np.ndarray, coords_3d: np.ndarray) -> str:
    """One line per image: set, item, label, class, the 2-D and the 3-D coordinates."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["set", "item", "label", "class", "umap2d_1", "umap2d_2", "umap3d_1", "umap3d_2",
                     "umap3d_3"])
    row = 0
    for e in embeddings:
        for item, label, key in zip(e.item_names, e.labels.tolist(), e.class_keys().tolist(), strict=True):
            writer.writerow([e.name, item, label, key, *(f"{v:.6g}" for v in coords_2d[row]),
                             *(f"{v:.6g}" for v in coords_3d[row])])
            row += 1
    return out.getvalue()


def embed_sets(image_sets: list[ImageSet], extractor: FeatureExtractor, *, cache_dir: Path,
               opts: DomainGapOptions) -> list[Embedding]:
    """Embed every set (features from the cache where it has them) and say what each holds."""
    embeddings = []
    for image_set in image_sets:
        embedding = embed_set(image_set, extractor, cache_dir=cache_dir, batch_size=opts.batch_size,
                              progress=opts.progress)
        classes = ", ".join(sorted(set(embedding.class_keys().tolist()) - {""})) or "unlabelled"
        print(f"{image_set.name}: {len(image_set)} images ({classes}) -> {embedding.features.shape[1]}-d "
              f"{extractor.name} features")
        embeddings.append(embedding)
    return embeddings


def run_domain_gap(specs: list[SetSpec], outdir: str | Path, *, unions: list[tuple[str, list[str]]] = (),
                   opts: DomainGapOptions | None = None) -> DomainGapResult:
    """Embed the sets, measure the gaps and project them; see the module docstring for the files.

    Args:
        specs: The image sets (at least two, names unique).
        outdir: Output folder (created if missing).
        unions: (name, [set names]) sets made of other sets' images, compared in the table only.
        opts: Run options (default DomainGapOptions()).
    """
    # Everything a user can get wrong is checked before the output folder is created.
    opts = opts or DomainGapOptions()
    unions = [(name, list(members)) for name, members in unions]
    check_set_names(specs, unions)
    device = pick_device(opts.device)
    image_sets = [open_image_set(spec, device=device, batch_size=opts.batch_size) for spec in specs]
    if opts.umap and sum(len(image_set) for image_set in image_sets) < MIN_UMAP_IMAGES:
        raise UserError(f"--set: UMAP needs at least {MIN_UMAP_IMAGES} images in all (or pass --no-umap)")
    extractor = load_extractor(opts.extractor, weights=opts.weights, device=device)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    record = {"sets": [asdict(spec) for spec in specs], "unions": unions, "options": asdict(opts)}
    atomic_write_text(outdir / "options.json", json.dumps(record, indent=2) + "\n")

    cache_dir = Path(opts.cache_dir) if opts.cache_dir else outdir / "embeddings"
    embeddings = embed_sets(image_sets, extractor, cache_dir=cache_dir, opts=opts)
    result = analyse_embeddings(embeddings, outdir, unions=unions, opts=opts)
    result.files = {"options": outdir / "options.json", **result.files}
    return result


def analyse_embeddings(embeddings: list[Embedding], outdir: str | Path, *,
                       unions: list[tuple[str, list[str]]] = (),
                       opts: DomainGapOptions | None = None) -> DomainGapResult:
    """Everything after embedding: the gap table and the UMAP coordinates (features given).

    Args:
        embeddings: The sets' features (names unique).
        outdir: Output folder (created if missing).
        unions: (name, [set names]) compared in the table only.
        opts: Run options (default DomainGapOptions()).
    """
    opts = opts or DomainGapOptions()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    by_name = {e.name: e for e in embeddings}
    compared = embeddings + [union_embedding(name, [by_name[m] for m in members])
                             for name, members in unions]
    rows = gap_rows(compared, pairs=_pairs(compared, unions), per_class=opts.per_class,
                    min_class_size=opts.min_class_size, opts=opts.gap, progress=opts.progress)
    files = {"gap_csv": outdir / "gap.csv", "gap_md": outdir / "gap.md"}
    write_tables(rows, files["gap_csv"], files["gap_md"])
    coords_2d = coords_3d = None
    if opts.umap:
        coords_2d, coords_3d = umap_coordinates(embeddings, opts)
        files["umap_csv"] = outdir / "umap_coords.csv"
        atomic_write_text(files["umap_csv"], coordinates_csv(embeddings, coords_2d, coords_3d))
    return DomainGapResult(compared, rows, [e.name for e in embeddings], coords_2d, coords_3d, files)


def umap_coordinates(embeddings: list[Embedding], opts: DomainGapOptions) -> tuple[np.ndarray, np.ndarray]:
    """UMAP 2-D [N, 2] and 3-D [N, 3] over every image of the sets, in order."""
    features = np.concatenate([e.features for e in embeddings])
    settings = dict(seed=opts.umap_seed, n_neighbors=opts.umap_neighbors, min_dist=opts.umap_min_dist,
                    n_epochs=opts.umap_epochs)
    print(f"UMAP of {len(features)} images ({features.shape[1]}-d), 2-D and 3-D ...", flush=True)
    return tuple(fit_umap(features, n_components=dims, **settings) for dims in (2, 3))
