"""thygan segment-cv: every fold x every segmentation recipe, trained and scored, then one comparison table.

The segmentation counterpart of ``thygan dlc-cv``: does a recipe's synthetic image + mask pairs improve
HoVer-Net over real images alone? K folds over the images of ``--data`` (grouped by slide or patient,
thygan.segment.folds) are written once as ``folds/fold<k>.json``; for each recipe (``none`` = real images
only) and fold, HoVer-Net trains on the fold's ``train`` images plus the recipe's pairs (counted against
those images) and the final snapshot is scored on the held-out ``test`` images, and on the external set
when one is given (thygan.segment.model_scores: PQ, AJI, Dice, and mPQ/bPQ with types).

Layout under ``outdir``: ``folds/fold<k>.json``; ``<recipe>/fold<k>/00000-hovernet/`` the training run
(options.json, log.txt, overlays, snapshot); ``<recipe>/fold<k>/result.json`` its scores per set, the
marker of a finished fold x recipe (skipped when the command runs again; an interrupted training resumes
from its last snapshot); ``comparison_folds.csv``, ``comparison.csv``, ``comparison.md`` and
``comparison.png`` (thygan.segment.cv_report) summarise.
"""

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from thygan import runs
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.segment.cv_report import write_comparison
from thygan.segment.data import Sample, parse_type_map, read_dataset
from thygan.segment.folds import assign_folds, fold_record, image_groups, write_fold_files
from thygan.segment.synthetic import check_recipe
from thygan.segment.training_loop import NAMES, SegmentOptions, build_network, launch_training
from thygan.sources.recipe import is_no_recipe, recipe_name

CV_SET = "cv test"
RESULT_FILE = "result.json"
RUN_NAME = "hovernet"


@dataclass(frozen=True)
class ExternalSet:
    """A labelled set scored by every fold's model (any layout thygan.segment.data reads)."""

    name: str
    data: str


@dataclass
class Plan:
    """What a comparison will do, worked out (and every input checked) before anything trains."""

    base: SegmentOptions                 # resolved options shared by every training
    samples: list[Sample]                # the images of --data
    folds: list[dict]                    # fold<k>.json contents
    recipes: list[str]                   # recipe files, 'none' for real images only
    planned: dict[str, list[int]]        # recipe name -> synthetic pairs added in each fold
    external: ExternalSet | None
    external_samples: list[Sample] | None
    warnings: list[str] = dataclasses.field(default_factory=list)  # printed with the plan

    def describe(self) -> str:
        """The dry run's lines: folds, sizes, recipes and what each recipe plans."""
        groups = len({g for fold in self.folds for g in fold["groups"]["test"]})
        lines = [f"data {self.base.data}: {len(self.samples)} images in {groups} groups (slide/patient), "
                 f"{len(self.folds)} folds, seed {self.base.seed}"]
        for fold in self.folds:
            lines.append(f"  fold {fold['fold']}: train {len(fold['train'])} images "
                         f"({len(fold['groups']['train'])} groups), test {len(fold['test'])} images "
                         f"({len(fold['groups']['test'])} groups)")
        for recipe in self.recipes:
            name = recipe_name(recipe)
            what = "real images only" if is_no_recipe(recipe) else \
                f"{recipe}: + synthetic pairs per fold {', '.join(str(n) for n in self.planned[name])}"
            lines.append(f"  recipe {name}: {what}")
        if self.external is not None:
            lines.append(f"  external {self.external.name}: {len(self.external_samples)} images "
                         f"({self.external.data}), scored by every fold's model")
        epochs = "+".join(str(e) for e in self.base.epochs)
        lines.append(f"{len(self.recipes) * len(self.folds)} trainings of {epochs} epochs "
                     f"({self.base.mode}, width {self.base.width}, blocks {self.base.blocks}, "
                     f"input {self.base.input_size} px, nr_types {self.base.nr_types}, "
                     f"MSGE kernels {self.base.msge_kernel})")
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def _check_recipe(recipe: str, real_count: int) -> int:
    try:
        checked = check_recipe(None if is_no_recipe(recipe) else recipe, real_count=real_count)
    except UserError as exc:
        raise UserError(f"--recipes: {str(exc).removeprefix('--recipe: ')}") from None
    return sum(checked[1].values()) if checked else 0


def _reads_data(recipe: str, data: str) -> list[str]:
    """Warnings for sources whose input folder is --data or inside it: their pairs come from every fold's
    held-out images too, so the comparison would train on what it tests (pairs.find_folder resolves them)."""
    from thygan.sources import pairs
    from thygan.sources.recipe import read_recipe

    root = Path(data).resolve()
    found = []
    for index, source in enumerate(read_recipe(recipe).sources):
        for key in ("data", "masks", "images"):
            value = getattr(source, key, None)
            if isinstance(value, str):
                folder = pairs.find_folder(value, source.context, key).resolve()
                if folder == root or root in folder.parents:
                    found.append(f"{recipe}: source {index + 1} reads its '{key}' from --data {data}: its pairs "
                                 f"include the held-out images of every fold (use training images only)")
    return found


def plan_cv(base: SegmentOptions, *, folds: int, recipes: list[str], external: ExternalSet | None = None) -> Plan:
    """Read the data, make the folds and check every recipe and the network; trains and writes nothing."""
    base = base.resolved()
    names = [recipe_name(r) for r in recipes]
    if not recipes or len(set(names)) != len(names):
        raise UserError(f"--recipes: expected distinct recipe names (file stems) such as none,mix.json; got "
                        f"{','.join(recipes) or 'nothing'}")
    try:
        build_network(base).output_size(base.input_size)
    except ValueError as exc:
        raise UserError(f"--width/--blocks/--input-size: {exc}") from None
    type_map = parse_type_map(base.type_map)
    samples = read_dataset(base.data, nr_types=base.nr_types, type_map=type_map)
    groups = image_groups(base.data, [s.name for s in samples])
    if len(groups) != len(samples):
        raise UserError(f"--data {base.data}: image names repeat (names are file stems; rename duplicates)")
    held_out = assign_folds(groups, folds, seed=base.seed)
    records = [fold_record(k, held_out, groups, data=base.data, seed=base.seed) for k in range(folds)]
    planned = {recipe_name(r): [_check_recipe(r, len(rec["train"])) for rec in records] for r in recipes}
    external_samples = None
    if external is not None:
        try:
            external_samples = read_dataset(external.data, nr_types=base.nr_types, type_map=type_map)
        except UserError as exc:
            raise UserError(f"--external: {exc}") from None
    warnings = [w for r in recipes if not is_no_recipe(r) for w in _reads_data(r, base.data)]
    return Plan(base, samples, records, list(recipes), planned, external, external_samples, warnings)


def _existing_run(opts: SegmentOptions, fold_dir: Path) -> Path | None:
    """The fold's run folder, None before the first training; refused when made with other options (the
    device and data loader processes may differ: the same run continued on another machine)."""
    existing = runs.numbered_runs(fold_dir, RUN_NAME)
    if not existing:
        return None
    trained = SegmentOptions.from_dict(runs.read_options(existing[-1]))
    if dataclasses.replace(trained, device=opts.device, workers=opts.workers) != opts:
        raise UserError(f"--outdir: {existing[-1]} was trained with other options; use another --outdir")
    return existing[-1]


def _train(opts: SegmentOptions, fold_dir: Path, echo: Callable[[str], None], verbose: bool) -> Path:
    """Train (or resume, or reuse) the fold's run; the final snapshot's .safetensors."""
    total = sum(opts.epochs)
    run_dir = _existing_run(opts, fold_dir)
    if run_dir is not None:
        last = runs.latest_snapshot(run_dir, names=NAMES)
        done = int(NAMES.index_of(last)) if last is not None else 0
        if done < total:
            echo(f"{run_dir}: resuming after epoch {done} of {total}")
            launch_training(opts, resume=run_dir, verbose=verbose)
    else:
        run_dir = launch_training(opts, verbose=verbose)
    last = runs.latest_snapshot(run_dir, names=NAMES)
    if last is None or int(NAMES.index_of(last)) < total:
        raise UserError(f"{run_dir}: training stopped before epoch {total}; re-run the same command to continue")
    return last


def fold_options(plan: Plan, recipe: str, fold_file: Path, fold_dir: Path, recipe_cache: str | Path) -> SegmentOptions:
    """The training options of one (recipe, fold): the shared ones, its folder, fold file and recipe."""
    return dataclasses.replace(plan.base, outdir=str(fold_dir), name=RUN_NAME, valid=None, train_fold=str(fold_file),
                               recipe=None if is_no_recipe(recipe) else recipe, recipe_cache=str(recipe_cache))


def _score(snapshot: Path, sets: dict[str, list[Sample]], device: str) -> dict[str, dict]:
    from thygan.device import pick_device
    from thygan.segment.model_scores import score_model
    from thygan.segment.weights import load_model

    device = pick_device(device)
    net, input_size, _ = load_model(snapshot)
    net.to(device)
    out = {}
    for name, samples in sets.items():
        means, rows = score_model(net, samples, input_size=input_size, output_size=net.output_size(input_size),
                                  device=device, desc=name)
        out[name] = {"scores": means, "per_image": rows}
    return out


def run_cv(plan: Plan, *, outdir: str | Path, recipe_cache: str | None = None,
           echo: Callable[[str], None] = print, verbose: bool = True) -> list[dict]:
    """Train and score every (recipe, fold) the plan lists, then write the comparison; the per-fold rows."""
    outdir = Path(outdir)
    fold_files = write_fold_files(outdir / "folds", plan.folds)
    jobs = []  # every earlier run checked against its options before the first training
    for recipe in plan.recipes:
        for fold, fold_file in zip(plan.folds, fold_files):
            fold_dir = outdir / recipe_name(recipe) / f"fold{fold['fold']}"
            opts = fold_options(plan, recipe, fold_file, fold_dir, recipe_cache or outdir / "synthetic_cache")
            _existing_run(opts, fold_dir)
            jobs.append((recipe_name(recipe), fold, fold_dir, opts))
    echo(plan.describe())
    by_name = {s.name: s for s in plan.samples}
    fold_rows = []
    for name, fold, fold_dir, opts in jobs:
        k = fold["fold"]
        sets = {CV_SET: [by_name[n] for n in fold["test"]]}
        if plan.external is not None:
            sets[plan.external.name] = plan.external_samples
        result_file = fold_dir / RESULT_FILE
        result = json.loads(result_file.read_text()) if result_file.is_file() else {"sets": {}}
        missing = {s: samples for s, samples in sets.items() if s not in result["sets"]}
        if missing:
            echo(f"== recipe {name}, fold {k}: train {len(fold['train'])} images, test {len(fold['test'])}")
            snapshot = _train(opts, fold_dir, echo, verbose)
            result = {"recipe": name, "fold": k, "snapshot": str(snapshot.relative_to(fold_dir)),
                      "sets": result["sets"] | _score(snapshot, missing, plan.base.device)}
            atomic_write_text(result_file, json.dumps(result, indent=1) + "\n")
        else:
            echo(f"== recipe {name}, fold {k}: done already ({result_file})")
        for set_name in sets:
            fold_rows.append({"recipe": name, "set": set_name, "fold": k} | result["sets"][set_name]["scores"])
    write_comparison(fold_rows, outdir)
    echo(f"comparison written to {outdir}/comparison.md:")
    echo((outdir / "comparison.md").read_text())
    return fold_rows
