"""`make demo` / `thygan demo`: the main job end to end on the bundled real sample, at CPU size.

Each step is an ordinary thygan command, printed before it runs so that it can be re-run by hand
at full size, and each is skipped when its output is already there, so re-running the demo reuses
finished steps.
"""

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


@dataclass
class DemoStep:
    title: str                 # what the step does, for the user
    args: list[str]            # the `thygan` command line
    done: Path                 # this file exists once the step finished

    def command(self) -> str:
        return "thygan " + " ".join(shlex.quote(a) for a in self.args)


@dataclass
class DemoOptions:
    outdir: Path = Path("demo_out")  # everything the demo writes
    tile: int = 32                   # tile size in pixels (a power of two)
    magnification: float = 10.0      # objective magnification the slide is tiled at
    kimg: int = 4                    # GAN training length
    cfg: str = "cpu32"               # training preset
    fid_images: int = 100            # generated images per class for the per-class FID


def demo_steps(opts: DemoOptions) -> list[DemoStep]:
    out = opts.outdir
    tiles, zip_path, runs = out / "tiles", out / "tiles.zip", out / "runs"
    return [
        DemoStep("Tile the bundled H&E slide by its region annotations",
                 ["sample-tiles", f"--slide={SAMPLE_DIR / 'CMU-1-Small-Region.svs'}",
                  f"--annotations={SAMPLE_DIR / 'annotations.geojson'}", f"--tile={opts.tile}",
                  f"--magnification={opts.magnification:g}", f"--dest={tiles}"],
                 tiles / "dataset.json"),
        DemoStep("Pack the tiles into a training dataset (StyleGAN2-ADA layout)",
                 ["dataset-tool", f"--source={tiles}", f"--dest={zip_path}"], zip_path),
        DemoStep(f"Train a conditional StyleGAN2-ADA ({opts.cfg}, {opts.kimg} kimg)",
                 ["train", f"--outdir={runs}", f"--data={zip_path}", f"--cfg={opts.cfg}", "--cond=1", "--mirror=1",
                  f"--kimg={opts.kimg}", "--metrics=none", "--workers=1"],
                 out / "network.txt"),
    ]


def _run(step: DemoStep) -> None:
    print(f"\n== {step.title}\n$ {step.command()}", flush=True)
    if step.done.exists():
        print("   (already done: reusing it)")
        return
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "thygan.cli.main_entry", *step.args])
    if proc.returncode != 0:
        raise UserError(f"demo step failed (exit {proc.returncode}): {step.command()}")
    print(f"   done in {time.time() - start:.0f} s")


def _record_network(opts: DemoOptions) -> Path:
    """Remember the newest snapshot of the demo's training run (the training step's marker)."""
    from thygan.stylegan.training_state import latest_snapshot

    runs = sorted((opts.outdir / "runs").glob("*"))
    snapshot = latest_snapshot(runs[-1]) if runs else None
    if snapshot is None:
        raise UserError(f"demo: no snapshot found under {opts.outdir / 'runs'}")
    (opts.outdir / "network.txt").write_text(str(snapshot) + "\n")
    return snapshot


def _resume_interrupted_training(step: DemoStep, opts: DemoOptions) -> None:
    from thygan.stylegan.training_state import latest_snapshot

    for run_dir in sorted((opts.outdir / "runs").glob("*"), reverse=True):
        if latest_snapshot(run_dir) is not None:
            step.args.append(f"--resume={run_dir}")
            return


def _print_metric(path: Path) -> None:
    import json

    record = json.loads(path.read_text().splitlines()[-1])
    scores = "  ".join(f"{key} {value:.1f}" for key, value in record["results"].items())
    print(f"   {scores}\n   (small-count FID on a few minutes of CPU training: a smoke signal, not a paper number)")


def run_demo(opts: DemoOptions) -> None:
    opts.outdir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    steps = demo_steps(opts)
    for step in steps:
        if step.args[0] == "train" and not step.done.exists():
            _resume_interrupted_training(step, opts)
        _run(step)
        if step.args[0] == "train" and not step.done.exists():
            _record_network(opts)
    network = Path((opts.outdir / "network.txt").read_text().strip())
    grid = DemoStep("Generate a class grid from the trained generator (rows = classes)",
                    ["generate", f"--network={network}", "--seeds=0-7", "--class=all", "--grid",
                     f"--outdir={opts.outdir / 'generated'}"], opts.outdir / "generated" / "grid.png")
    _run(grid)
    run_dir = network.parent
    metric = f"fid{opts.fid_images}_full_perclass"
    fid = DemoStep(f"Score the generator: per-class FID ({opts.fid_images} fakes per class against all reals)",
                   ["metrics", f"--network={network}", f"--metrics={metric}",
                    f"--data={opts.outdir / 'tiles.zip'}", "--mirror=0"], run_dir / f"metric-{metric}.jsonl")
    _run(fid)
    _print_metric(fid.done)
    print(f"\nDemo finished in {time.time() - start:.0f} s. Results in {opts.outdir}/:")
    for path, what in [(opts.outdir / "tiles", "labelled tiles + dataset.json (patients in 'meta')"),
                       (run_dir / "reals.png", "real tiles, one row per class"),
                       (run_dir / "log.txt", "training log, one line per tick"),
                       (network, "the trained network (load it with generate.py)"),
                       (grid.done, "generated tiles, one row per class"),
                       (fid.done, "FID per class and their mean (reference jsonl format)")]:
        print(f"  {path}  - {what}")
