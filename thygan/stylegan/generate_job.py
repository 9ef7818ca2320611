"""One generation run: resolve the network, classes and seeds, then write PNGs that survive interruption.

Every PNG is written atomically, and the run's options are kept in ``generate.json`` in the output
folder, so re-running the same command resumes where it stopped, while a different network or
different options in the same folder is refused instead of silently mixing images.
"""

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dnnlib import parse_num_range
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.digest import file_sha256
from thygan.io.images import save_png
from thygan.io.network_file import load_network_file
from thygan.progress import progress
from thygan.stylegan.networks import NETWORKS
from thygan.stylegan.sampling import synthesize, synthesize_from_ws
from torch_utils.ops.impl_report import describe_op_paths

MANIFEST_NAME = "generate.json"


@dataclass
class GenerateJob:
    network_path: str              # checkpoint or reference .pkl
    outdir: str                    # output folder
    seeds: str | None = None       # "0-200", "1,5,9"
    truncation_psi: float = 1.0    # truncation psi
    class_spec: str | None = None  # "0", "0,2", "PTC", "all"
    noise_mode: str = "const"      # const | random | none
    projected_w: str | None = None  # npz with key 'w'
    batch_size: int = 8            # images per forward pass
    grid: bool = False             # one grid.png instead of single files
    device: str = "auto"           # auto | cpu | cuda
    overwrite: bool = False        # replace an earlier run with other options


@dataclass(frozen=True)
class ClassChoice:
    index: int | None              # None for unconditional networks
    folder: str | None             # sub-folder when several classes are generated


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = parse_num_range(text)
    except ValueError as exc:
        raise UserError(f"--seeds: {exc}") from None
    if not seeds:
        raise UserError("--seeds: no seeds given")
    if any(s >= 2**32 for s in seeds):
        raise UserError("--seeds: seeds must be below 2**32")
    return seeds


def resolve_classes(spec: str | None, c_dim: int, class_names: list[str] | None) -> list[ClassChoice]:
    """Turn --class into class indices; refuses what a conditional network cannot do."""
    if c_dim == 0:
        if spec is not None:
            print(f"warning: --class={spec} ignored: the network is unconditional")
        return [ClassChoice(None, None)]
    names = list(class_names or [])
    known = ", ".join(f"{i}={n}" for i, n in enumerate(names)) if names else f"0..{c_dim - 1}"
    if spec is None:
        raise UserError(f"--class: the network is conditional ({c_dim} classes: {known}); "
                        "give --class=INDEX, a comma list, or all")
    if spec.strip() == "all":
        indices = list(range(c_dim))
    else:
        indices = [_class_index(part.strip(), c_dim, names, known) for part in spec.split(",")]
    if len(indices) == 1:
        return [ClassChoice(indices[0], None)]
    return [ClassChoice(i, _class_folder(i, names)) for i in indices]


def _class_index(part: str, c_dim: int, names: list[str], known: str) -> int:
    if part.isdigit() and int(part) < c_dim:
        return int(part)
    if part in names:
        return names.index(part)
    hint = "" if names or part.isdigit() else ("; it has no class names: name them with dataset_tool.py "
                                               "--class-names (or the labels' diagnoses) and train on that")
    raise UserError(f"--class: unknown class '{part}' (this network has {c_dim} classes: {known}){hint}")


def _class_folder(index: int, names: list[str]) -> str:
    if index < len(names):
        return f"class{index}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", names[index])
    return f"class{index}"


def seed_filename(seed: int) -> str:
    return f"seed{seed:04d}.png"


def _claim_outdir(job: GenerateJob, weights_file: Path) -> None:
    """Write the manifest, or check that the folder holds images from the same options."""
    outdir = Path(job.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in asdict(job).items() if k not in ("outdir", "batch_size", "device", "overwrite")}
    record["network_sha256"] = file_sha256(weights_file)
    record["network_path"] = str(Path(job.network_path).resolve())
    manifest = outdir / MANIFEST_NAME
    if manifest.exists() and not job.overwrite:
        previous = json.loads(manifest.read_text())
        same = {k: previous.get(k) for k in ("network_sha256", "truncation_psi", "noise_mode", "projected_w")}
        if same != {k: record[k] for k in same}:
            raise UserError(f"--outdir: {outdir} holds images from another network or other options "
                            f"(see {manifest}); choose another folder or pass --overwrite")
    atomic_write_text(manifest, json.dumps(record, indent=2) + "\n")


def run_generate_job(job: GenerateJob) -> list[Path]:
    """Generate everything the job asks for and return the paths written (skipped ones included)."""
    loaded = load_network_file(job.network_path, registry=NETWORKS)
    G = loaded.networks.get("G_ema", loaded.networks.get("G"))
    if G is None:
        raise UserError(f"--network: {job.network_path} holds no generator (G_ema or G)")
    device = pick_device(job.device)
    G = G.eval().requires_grad_(False).to(device)
    outdir = Path(job.outdir)
    if job.projected_w is not None:
        ws = _load_projected_w(job.projected_w, G)
        _report_paths(device)
        _claim_outdir(job, loaded.weights_file)
        paths = [outdir / f"proj{idx:02d}.png" for idx in range(ws.shape[0])]
        for path, image in zip(paths, synthesize_from_ws(G, ws, noise_mode=job.noise_mode,
                                                          batch_size=job.batch_size, device=device)):
            save_png(path, image)
        return paths
    seeds = parse_seeds(job.seeds)
    classes = resolve_classes(job.class_spec, G.c_dim, loaded.class_names)
    _report_paths(device)
    _claim_outdir(job, loaded.weights_file)
    if job.grid:
        return [_write_grid(G, seeds, classes, job, device, class_names=loaded.class_names)]
    written = []
    for choice in classes:
        folder = outdir / choice.folder if choice.folder else outdir
        todo = [s for s in seeds if not (folder / seed_filename(s)).exists()]
        if len(todo) < len(seeds):
            print(f"resuming: {len(seeds) - len(todo)} of {len(seeds)} images already in {folder}")
        images = synthesize(G, todo, choice.index, truncation_psi=job.truncation_psi, noise_mode=job.noise_mode,
                            batch_size=job.batch_size, device=device)
        for seed, image in _progress(images, len(todo), folder):
            save_png(folder / seed_filename(seed), image)
        written += [folder / seed_filename(s) for s in seeds]
    print(f"wrote {len(written)} images under {outdir}")
    return written


def _write_grid(G, seeds, classes, job, device, *, class_names: list[str] | None = None) -> Path:
    """One row per class, labelled with the class name (or index) in a left margin."""
    from thygan.io.images import image_grid

    rows = []
    for choice in classes:
        images = synthesize(G, seeds, choice.index, truncation_psi=job.truncation_psi, noise_mode=job.noise_mode,
                            batch_size=job.batch_size, device=device)
        rows.append(np.stack([image for _, image in _progress(images, len(seeds), Path(job.outdir))]))
    path = Path(job.outdir) / "grid.png"
    names = list(class_names or [])
    labels = None if classes[0].index is None else \
        [names[c.index] if c.index < len(names) else f"class {c.index}" for c in classes]
    save_png(path, image_grid(np.stack(rows), row_labels=labels))
    print(f"wrote {path} ({len(classes)} classes x {len(seeds)} seeds)")
    return path


def _load_projected_w(path: str, G) -> torch.Tensor:
    try:
        ws = torch.from_numpy(np.load(path)["w"]).float()
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"--projected-w: cannot read key 'w' from {path} ({exc})") from None
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise UserError(f"--projected-w: {path} has w of shape {tuple(ws.shape)}, "
                        f"expected [N, {G.num_ws}, {G.w_dim}]")
    return ws


def _progress(items, total: int, folder: Path):
    return progress(items, total=total, desc=f"generating into {folder}", unit="img", leave=False,
                disable=total == 0)


def _report_paths(device: torch.device) -> None:
    paths = " ".join(f"{op}={impl}" for op, impl in describe_op_paths(device).items())
    print(f"device {device}; ops: {paths}")
