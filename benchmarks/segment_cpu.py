"""CPU check of nucleus segmentation on the bundled slide (no nucleus labels exist for it).

1. Pseudo-labels (haematoxylin threshold + watershed; NOT ground truth) for the 256 px tissue tiles of
   data/sample/CMU-1-Small-Region.svs; every 5th tile is held out.
2. A small HoVer-Net (fast geometry, 256 -> 164 px, width 0.125, one unit per encoder group) trained for a
   few minutes on the rest, then scored on the held-out tiles against their pseudo-labels (PQ, AJI, Dice):
   agreement with the classical method, not accuracy.
3. Inference throughput: ``thygan segment infer tile`` on the held-out tiles and ``infer wsi`` on the whole
   slide, each in its own process (windows/s, wall time, peak RSS).

Usage: python benchmarks/segment_cpu.py --out=/tmp/segment_cpu [--epochs=2,10] [--threads=1] [--reuse]
Writes OUT/summary.json and OUT/heldout_overlay.png (prediction | pseudo-labels on held-out tiles).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLIDE = ROOT / "data" / "sample" / "CMU-1-Small-Region.svs"


def _split(pl: Path, out: Path) -> tuple[Path, Path]:
    names = sorted(p.stem for p in (pl / "Labels").glob("*.npy"))
    parts = {"train": [n for k, n in enumerate(names) if k % 5 != 4],
             "valid": [n for k, n in enumerate(names) if k % 5 == 4]}
    for part, chosen in parts.items():
        for sub in ("Images", "Labels"):
            (out / part / sub).mkdir(parents=True, exist_ok=True)
        for n in chosen:
            shutil.copy(pl / "Images" / f"{n}.png", out / part / "Images" / f"{n}.png")
            shutil.copy(pl / "Labels" / f"{n}.npy", out / part / "Labels" / f"{n}.npy")
    return out / "train", out / "valid"


# Runs the CLI in a child and prints the child's own peak RSS (VmHWM) last. getrusage's ru_maxrss would not
# do: Linux carries the parent's high-water mark across fork + exec, and RUSAGE_CHILDREN mixes the runs.
_CHILD = ("import runpy, sys; sys.argv = ['thygan'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('thygan.cli.main_entry', run_name='__main__')\n"
          "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
          "    print('PEAK_RSS_KB', hwm)")


def _timed(args: list[str], threads: int) -> dict:
    start = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.time() - start
    if "PEAK_RSS_KB" not in done.stdout or done.returncode:
        raise RuntimeError(f"{args}: failed\n{done.stdout}\n{done.stderr}")
    peak_kb = int(done.stdout.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return {"seconds": seconds, "peak_rss_mb": peak_kb / 1024}


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Work folder.")
@click.option("--epochs", default="2,10", show_default=True, help="Phase 1, phase 2 epochs.")
@click.option("--patches", default=32, show_default=True, help="Training windows per epoch.")
@click.option("--lr", default=1e-3, show_default=True, help="Adam lr (higher than the reference's for a short run).")
@click.option("--threads", default=1, show_default=True, help="torch threads (1 on a shared 2-core machine).")
@click.option("--reuse", is_flag=True, help="Reuse the model trained in OUT by an earlier run; re-measure the rest.")
def main(out, epochs, patches, lr, threads, reuse):
    import torch
    from PIL import Image

    from thygan.segment.data import read_folder
    from thygan.segment.overlay import draw_overlay
    from thygan.segment.postproc import instance_records
    from thygan.segment.predict import segment_image
    from thygan.segment.pseudo_labels import make_pseudo_labels
    from thygan.segment.stats import instance_stats
    from thygan.segment.training_loop import NAMES, SegmentOptions, training_loop
    from thygan.segment.weights import load_model

    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    make_pseudo_labels(SLIDE, out / "pseudo_labels")
    train_dir, valid_dir = _split(out / "pseudo_labels", out / "split")
    e1, e2 = (int(v) for v in epochs.split(","))
    opts = SegmentOptions(data=str(train_dir), valid=str(valid_dir), outdir=str(out / "runs"), name="pseudo-cpu",
                          mode="fast", width=0.125, blocks=[1, 1, 1, 1], epochs=[e1, e2], batch=[4, 4], lr=lr,
                          lr_step=1000, patches_per_epoch=patches, device="cpu", seed=10)
    start = time.time()
    previous = sorted((out / "runs").glob("*-pseudo-cpu"))
    # --reuse: measure inference again with the model already trained in OUT (training is the slow part)
    run_dir = previous[-1] if reuse and previous else training_loop(opts, verbose=False)
    train_seconds = None if reuse and previous else time.time() - start
    snapshot = max(run_dir.glob(f"{NAMES.snapshot}-*.safetensors"))
    net, input_size, _ = load_model(snapshot)
    output_size = net.output_size(input_size)
    valid = read_folder(valid_dir)
    rows, panels = [], []
    for s in valid:
        inst, records, _ = segment_image(net, s.image, input_size=input_size, output_size=output_size)
        rows.append(instance_stats(s.inst, inst))
        if len(panels) < 3:
            panels.append(np.concatenate([draw_overlay(s.image, records, thickness=1),
                                          draw_overlay(s.image, instance_records(s.inst), thickness=1)], 1))
    Image.fromarray(np.concatenate(panels, 0)).save(out / "heldout_overlay.png")
    with np.errstate(all="ignore"):
        scores = {k: float(np.nanmean([r[k] for r in rows])) for k in ("pq", "aji", "dice", "dq", "sq")}

    shutil.rmtree(out / "infer_tile", ignore_errors=True)   # both commands resume: start them afresh
    shutil.rmtree(out / "infer_wsi", ignore_errors=True)
    tile = _timed(["segment", "infer", "tile", f"--model={snapshot}",
                   f"--input-dir={valid_dir / 'Images'}", f"--output-dir={out / 'infer_tile'}", "--device=cpu"],
                  threads)
    n_tile_windows = len(valid) * int(np.ceil(256 / output_size)) ** 2
    wsi = _timed(["segment", "infer", "wsi", f"--model={snapshot}",
                  f"--input={SLIDE}", f"--output-dir={out / 'infer_wsi'}", "--device=cpu", "--save-mask"], threads)
    nuclei = len(json.loads((out / "infer_wsi" / "json" / f"{SLIDE.stem}.json").read_text())["nuc"])
    n_chunks = len(list((out / "infer_wsi" / "cache" / SLIDE.stem).glob("chunk_*.json")))
    side = 2048 + 2 * 128
    n_wsi_windows = n_chunks * int(np.ceil(side / output_size)) ** 2
    summary = {"train_tiles": len(read_folder(train_dir)), "heldout_tiles": len(valid), "train_seconds": train_seconds,
               "options": opts.__dict__, "heldout_vs_pseudo_labels": scores,
               "tile_infer": {**tile, "tiles": len(valid), "windows": n_tile_windows,
                              "windows_per_s": n_tile_windows / tile["seconds"]},
               "wsi_infer": {**wsi, "chunks": n_chunks, "windows": n_wsi_windows, "nuclei": nuclei,
                             "windows_per_s": n_wsi_windows / wsi["seconds"]}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
