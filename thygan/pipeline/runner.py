"""Run the pipeline's steps in order, each as its own ``thygan`` process, printing its command first.

A finished step leaves a record in ``OUTDIR/.pipeline/<step>.json`` (its command line, how long it
took, what it produced). A re-run reuses every step whose record holds the same command, and runs
again the ones whose options changed; the commands themselves resume interrupted work (a GAN run
continues from its last snapshot, dlc-cv from its last epoch, domain-gap from its feature cache).
"""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dnnlib.duration import format_duration
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.pipeline.checks import check_pipeline
from thygan.pipeline.config import PipelineConfig, config_to_dict, resolve_defaults
from thygan.pipeline.segmentation_steps import write_pseudo_patients
from thygan.pipeline.steps import PipelineContext, Step
from thygan.pipeline.timing import StepTime, Stopwatch, format_step_times, load_average
from thygan.pipeline.workflow import STEP_BUILDERS, STEP_NAMES, built_steps
from thygan.runs import NETWORK_SNAPSHOTS, SnapshotNames, latest_snapshot, numbered_runs, read_metric_records


@dataclass
class StepRecord:
    name: str
    command: list[str]
    seconds: float
    produced: dict
    cpu_seconds: float | None = None  # user + system time of its processes (absent from older records)
    group: str = ""                   # the step family (segment-infer), as Step.group


def _record_path(outdir: Path, name: str) -> Path:
    return outdir / ".pipeline" / f"{name}.json"


def read_record(outdir: Path, name: str) -> StepRecord | None:
    path = _record_path(outdir, name)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return StepRecord(data["name"], data["command"], data["seconds"], data.get("produced", {}),
                      data.get("cpu_seconds"), data.get("group", ""))


def read_records(outdir: Path) -> list[StepRecord]:
    """Every finished step's record, in the workflow's order."""
    records = [read_record(outdir, path.stem) for path in sorted((outdir / ".pipeline").glob("*.json"))]
    order = {name: index for index, name in enumerate(STEP_NAMES)}
    return sorted(records, key=lambda r: order.get(r.group or r.name, len(order)))


def _write_record(outdir: Path, record: StepRecord) -> None:
    path = _record_path(outdir, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record.__dict__, indent=2) + "\n")


def _execute(step: Step) -> tuple[float, float | None]:
    """Run the step's command; its wall and CPU seconds."""
    clock = Stopwatch()
    proc = subprocess.run([sys.executable, "-m", "thygan.cli.main_entry", *step.args])
    if proc.returncode != 0:
        raise UserError(f"pipeline step '{step.name}' failed (exit {proc.returncode}); fix it and run the "
                        f"pipeline again to continue from there: {step.command()}")
    return clock.elapsed()


TRANSLATE_SNAPSHOTS = SnapshotNames(snapshot="translate-snapshot")  # thygan.translate.training_loop.NAMES
HOVERNET_SNAPSHOTS = SnapshotNames(snapshot="hovernet-snapshot")    # thygan.segment.training_loop.NAMES
# Where each training step makes its numbered run folders (under OUTDIR), and its snapshots' names.
TRAINING_RUNS = {
    "gan-train": (("gan",), NETWORK_SNAPSHOTS),
    "masks-train": (("mask_translation", "runs"), TRANSLATE_SNAPSHOTS),
    "translate-train": (("translation", "runs"), TRANSLATE_SNAPSHOTS),
    "segment-train": (("segmentation", "runs"), HOVERNET_SNAPSHOTS),
}


def _without_kimg(args: list[str]) -> list[str]:
    return [arg for arg in args if not arg.startswith("--kimg=")]


def _train_args_with_resume(step: Step, ctx: PipelineContext) -> list[str]:
    """An unfinished training run (GAN, translation, HoVer-Net) continues from its last snapshot, and so does
    a finished GAN run asked for more kimg; a run with other options starts afresh beside it."""
    previous = read_record(ctx.outdir, step.name)
    if previous is not None and _without_kimg(previous.command) != _without_kimg(step.args):
        print("   its options changed beyond --kimg: a new run (the earlier one stays in place)")
        return step.args
    parts, names = TRAINING_RUNS[step.name]
    for run_dir in reversed(numbered_runs(ctx.outdir.joinpath(*parts))):
        if latest_snapshot(run_dir, names=names) is not None:
            print(f"   continuing the interrupted run {run_dir}")
            return [*step.args, f"--resume={run_dir}"]
    return step.args


def pick_network(run_dir: Path, metric: str | None) -> tuple[Path, str]:
    """The snapshot with the lowest value of the run's first metric (FID, KID), else the newest one."""
    if metric and metric != "none":
        records = read_metric_records(run_dir, metric)
        scored = [(next(iter(r["results"].values())), r["snapshot_pkl"]) for r in records if r.get("results")]
        scored = [(value, name) for value, name in scored if (run_dir / name).is_file()]
        if scored:
            value, name = min(scored)
            return run_dir / name, f"lowest {metric} ({value:.2f})"
    latest = latest_snapshot(run_dir)
    if latest is None:
        raise UserError(f"pipeline: no network snapshot in {run_dir}")
    return latest, "newest snapshot"


def _newest_snapshot(runs_dir: Path, names: SnapshotNames, step: str) -> dict:
    """What a translate or segment training step produced: its run's newest snapshot."""
    runs = numbered_runs(runs_dir)
    network = latest_snapshot(runs[-1], names=names) if runs else None
    if network is None:
        raise UserError(f"pipeline: {step} wrote no network snapshot under {runs_dir}")
    print(f"   network for the next steps: {network}")
    return {"network": str(network), "run_dir": str(runs[-1])}


AFTER_STEP = {  # what a step hands on besides a training step's network (below)
    "pseudo-labels": write_pseudo_patients,
}


def _hand_on(ctx: PipelineContext, name: str, produced: dict) -> None:
    """Keep what a step produced for the later ones (the GAN's network is the classifier's generator)."""
    ctx.produced[name] = produced
    if name == "gan-train":
        ctx.network = produced.get("network", ctx.network)


def _after_training(ctx: PipelineContext) -> dict:
    runs = numbered_runs(ctx.outdir / "gan")
    if not runs:
        raise UserError(f"pipeline: gan-train wrote no run folder under {ctx.outdir / 'gan'}")
    first_metric = ctx.config.gan.metrics.split(",")[0]
    network, why = pick_network(runs[-1], first_metric)
    print(f"   network for the next steps: {network} ({why})")
    return {"network": str(network), "run_dir": str(runs[-1]), "picked_by": why}


def run_step(step: Step, ctx: PipelineContext, *, index: int, total: int) -> StepTime | None:
    """Run one step, or reuse its earlier result; how long it took (None in a dry run)."""
    print(f"\n[{index}/{total}] {step.title}\n$ {step.command()}", flush=True)
    record = read_record(ctx.outdir, step.name)
    if record is not None and record.command == step.args:
        print(f"   (done in an earlier run, {format_duration(record.seconds)}: reusing it)")
        _hand_on(ctx, step.name, record.produced)
        return StepTime(step.name, record.seconds, record.cpu_seconds, earlier=True)
    if ctx.dry_run:
        return None
    if record is not None:
        print("   (its options changed since it last ran: running it again)")
        for folder in step.rewrites:
            if folder.is_dir():
                print(f"   (emptying {folder}: its files came from the earlier options)")
                shutil.rmtree(folder)
    args = _train_args_with_resume(step, ctx) if step.name in TRAINING_RUNS else step.args
    seconds, cpu = _execute(Step(step.name, step.title, args, step.group))
    if step.name == "gan-train":
        produced = _after_training(ctx)
    elif step.name in TRAINING_RUNS:
        parts, names = TRAINING_RUNS[step.name]
        produced = _newest_snapshot(ctx.outdir.joinpath(*parts), names, step.name)
    else:
        produced = AFTER_STEP[step.name](ctx) if step.name in AFTER_STEP else {}
    _hand_on(ctx, step.name, produced)
    _write_record(ctx.outdir, StepRecord(step.name, step.args, seconds, produced, cpu, step.group))
    print(f"   done in {format_duration(seconds)}")
    return StepTime(step.name, seconds, cpu)


def run_pipeline(config: PipelineConfig, *, only: list[str] | None = None, dry_run: bool = False) -> PipelineContext:
    """Run (or, with ``dry_run``, print) every step the configuration asks for; then write the report."""
    unknown = sorted(set(only or []) - set(STEP_NAMES))
    if unknown:
        raise UserError(f"--only: unknown step '{unknown[0]}' (steps: {', '.join(STEP_NAMES)})")
    resolve_defaults(config)  # the 'auto' metric counts of the device it runs on
    check_pipeline(config)  # inputs, folds and crops, before any step (dry runs too)
    outdir = Path(config.outdir)
    ctx = PipelineContext(config=config, outdir=outdir, dry_run=dry_run)
    if config.gan is not None and config.gan.network:
        ctx.network = config.gan.network
    if not dry_run:
        outdir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(outdir / "pipeline.json", json.dumps(config_to_dict(config), indent=2) + "\n")
    start, load_start, times = time.time(), load_average(), []
    total = len(STEP_BUILDERS) + 1
    for index, builder in enumerate(STEP_BUILDERS, start=1):
        for step in built_steps(builder, ctx):
            if only and step.key not in only:
                _reuse_outputs_of_skipped(step, ctx)
                continue
            if (took := run_step(step, ctx, index=index, total=total)) is not None:
                times.append(took)
    if dry_run:
        print("\n(dry run: nothing was run)")
        return ctx
    if not only or "report" in only:
        from thygan.pipeline.report import write_report

        print(f"\n[{total}/{total}] Write the report")
        clock = Stopwatch()
        report = write_report(ctx)
        times.append(StepTime("report", *clock.elapsed()))
        print(f"\nPipeline finished in {format_duration(time.time() - start)}. Results in {outdir}/:")
        _print_outputs(ctx, report)
    if times:
        print("\n" + format_step_times(times, total_seconds=time.time() - start, load_start=load_start,
                                       load_end=load_average()))
    return ctx


def _print_outputs(ctx: PipelineContext, report: Path) -> None:
    run_dir = ctx.produced.get("gan-train", {}).get("run_dir")
    for path, what in [(report, "start here: every figure and table, with how to read it"),
                       (ctx.tiles, "the labelled images (tiles or crops)"),
                       (Path(run_dir) if run_dir else None, "the GAN run: log, grids, snapshots, metric-*.jsonl"),
                       (ctx.network and Path(ctx.network), "the network used (load it with generate.py)"),
                       (ctx.outdir / "generated" / "grid.png", "a class grid of it"),
                       (ctx.outdir / "classifier" / "comparison.md", "the classifier without/with synthetic images"),
                       (ctx.outdir / "translation" / "eval" / "grid.png", "the stain translation: inputs and outputs"),
                       (ctx.outdir / "segment_cv" / "comparison.md", "HoVer-Net without/with synthetic pairs"),
                       (ctx.outdir / "segmentation" / "compare" / "compare.md", "the sets segmented by one HoVer-Net"),
                       (ctx.outdir / "domain_gap" / "gap.md", "the domain-gap table (and UMAP plots beside it)")]:
        if path is not None and Path(path).exists():
            print(f"  {path}  - {what}")


def _reuse_outputs_of_skipped(step: Step, ctx: PipelineContext) -> None:
    """A step left out by --only still hands on what it produced before (the network)."""
    record = read_record(ctx.outdir, step.name)
    if record is not None:
        _hand_on(ctx, step.name, record.produced)
