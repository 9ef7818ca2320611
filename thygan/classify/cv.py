"""thygan dlc-cv: every fold of a split folder x every gan_params recipe, trained and evaluated,
then one comparison table - the study's main result (patient accuracy per fold, mean +- sd) with
macro F1, balanced accuracy, ROC AUC and 95% intervals, plus the same models on an external set.

Layout under ``out_dir``: ``{recipe}/cv{k}/`` holds the training run of fold k (options.json,
train_log.txt, vl_*.safetensors, training_results.json, Training_Curves.png), its ``test/`` and
``external/`` evaluations (eval_log.txt, test_preds.csv, Conf_Matrix.png, metrics.json);
``comparison.csv`` / ``comparison_folds.csv`` / ``comparison.md`` / ``comparison.png`` summarise.
Finished trainings and evaluations are reused when the command is re-run, an interrupted training
resumes, so the comparison can be stopped and continued at any point.

The interval of a row is the 95% t-interval of the mean over folds (mean +- t(0.975, k-1) sd / sqrt k,
clipped to [0, 1]);
the sd is the sample sd (ddof 1), as the study's "84.01 +- 5.85".
"""

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from thygan.classify.evaluate import METRICS_FILE, evaluate_model
from thygan.classify.options import EvalOptions, TrainOptions
from thygan.classify.reports import comparison_plot
from thygan.classify.run_folder import OPTIONS_FILE, options_match, read_results, start_run_folder
from thygan.classify.train import train_classifier
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.tables import markdown_table, write_csv
from thygan.metrics.paired_folds import BASELINE, paired_against_baseline, score_interval
from thygan.sources.recipe import recipe_name

METRIC_COLUMNS = {"accuracy": "accuracy", "macro_f1": "macro F1", "balanced_accuracy": "balanced acc.",
                  "roc_auc": "ROC AUC"}


@dataclass(frozen=True)
class ExternalSet:
    """A labelled set evaluated by every fold's model (the study's Nikiforov + TCGA cohort)."""

    name: str
    src_dir: str
    labels: str
    split_file: str | None = None
    split_key: str = "test"


def find_split_files(split_dir: str | Path, folds: list[int] | None, *, inner: int = 0) -> dict[int, Path]:
    """Fold k -> its split file: ``cv_splits/cv{k}_splits/cv_split_{k}_{inner}.json`` (what ``thygan splits``
    writes), or ``cv_split_{k}_{inner}.json`` / ``cv{k}_split.json`` directly in ``split_dir``."""
    root = Path(split_dir)
    if not root.is_dir():
        raise UserError(f"--split_dir: {root} is not a folder")
    found: dict[int, Path] = {}
    patient_files: dict[int, Path] = {}  # cv{k}_split.json hold inner fold 0 only
    for path in sorted(root.rglob("*.json")):
        if match := re.fullmatch(rf"cv_split_(\d+)_{inner}\.json", path.name):
            found.setdefault(int(match.group(1)), path)
        elif inner == 0 and (match := re.fullmatch(r"cv(\d+)_split\.json", path.name)):
            patient_files.setdefault(int(match.group(1)), path)
    found = patient_files | found
    if not found:
        raise UserError(f"--split_dir: no cv_split_<k>_{inner}.json or cv<k>_split.json under {root} "
                        f"(write them with `thygan splits --dest`)")
    if folds is None:
        return dict(sorted(found.items()))
    missing = [k for k in folds if k not in found]
    if missing:
        raise UserError(f"--folds: fold {missing[0]} has no split file under {root} (found {sorted(found)})")
    return {k: found[k] for k in folds}


def _job_options(base: TrainOptions, out_dir: Path, recipe: str, fold: int, split_file: Path) -> TrainOptions:
    gan_params = None if recipe_name(recipe) == "none" else recipe
    return dataclasses.replace(base, out_dir=str(out_dir), split_file=str(split_file), gan_params=gan_params,
                               run_id=f"{recipe_name(recipe)}_cv{fold}",
                               gan_cache=base.gan_cache or str(out_dir / "gan_cache"))


def _train_fold(opts: TrainOptions, run_dir: Path, echo: Callable[[str], None]) -> dict:
    results = read_results(run_dir)
    if results is not None:
        echo(f"{run_dir}: trained already")
        return results
    if (run_dir / OPTIONS_FILE).is_file():
        if not options_match(run_dir, opts):
            raise UserError(f"--out_dir: {run_dir} was trained with other options; use another --out_dir")
    else:
        start_run_folder(run_dir, opts)
    return train_classifier(opts, run_dir, echo=echo)


def _evaluate(opts: EvalOptions, eval_dir: Path, echo: Callable[[str], None]) -> dict:
    if (eval_dir / METRICS_FILE).is_file():
        return json.loads((eval_dir / METRICS_FILE).read_text())
    eval_dir.mkdir(parents=True, exist_ok=True)
    return evaluate_model(opts, eval_dir, echo=echo)


IMAGE_LEVEL_SUFFIX = " (images)"


def run_cv(base: TrainOptions, *, split_files: dict[int, Path], recipes: list[str], out_dir: str | Path,
           external: ExternalSet | None = None, bootstrap: int = 1000, eval_batch_size: int = 20,
           echo: Callable[[str], None] = print) -> list[dict]:
    """Train and evaluate every (recipe, fold); write the comparison; returns the per-fold rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_rows = []
    for recipe in recipes:
        for fold, split_file in split_files.items():
            opts = _job_options(base, out_dir, recipe, fold, split_file)
            run_dir = out_dir / recipe_name(recipe) / f"cv{fold}"
            echo(f"== gan_params {recipe_name(recipe)}, fold {fold}: {split_file}")
            results = _train_fold(opts, run_dir, echo)
            if not results.get("finished", True):
                raise UserError("interrupted; re-run the same command to continue")
            model = run_dir / results["best_model"]
            sets = [("cv test", run_dir / "test", dict(src_dir=base.src_dir, labels=base.labels,
                                                        split_file=str(split_file), split_key="test"))]
            if external is not None:
                sets.append((external.name, run_dir / "external",
                             dict(src_dir=external.src_dir, labels=external.labels, split_file=external.split_file,
                                  split_key=external.split_key)))
            for set_name, eval_dir, data in sets:
                eval_opts = EvalOptions(**data, out_dir=str(eval_dir), run_id=set_name, mdl_loc=str(model),
                                        batch_size=eval_batch_size, workers=base.workers, crop_size=base.crop_size,
                                        model_type=base.model_type, eval_crop=base.eval_crop, bootstrap=bootstrap,
                                        seed=base.seed, device=base.device)
                evaluation = _evaluate(eval_opts, eval_dir, echo)
                # Patient level is the study's table; image level shows differences a few patients hide.
                for level, suffix in (("patient_level", ""), ("image_level", IMAGE_LEVEL_SUFFIX)):
                    metrics = evaluation[level]
                    fold_rows.append({"gan_params": recipe_name(recipe), "set": set_name + suffix, "fold": fold,
                                      "correct": metrics["correct"], "total": metrics["total"]}
                                     | {key: metrics[key] for key in METRIC_COLUMNS})
    write_comparison(fold_rows, out_dir)
    echo(f"comparison written to {out_dir}/comparison.md:")
    echo((out_dir / "comparison.md").read_text())
    return fold_rows


def _cell(values: list[float]) -> tuple[str, str]:
    mean, sd, low, high = score_interval(values)
    interval = "" if low is None else f"[{100 * low:.2f}, {100 * high:.2f}]"
    return f"{100 * mean:.2f} ± {100 * sd:.2f}", interval


def _paired_columns(groups: dict[tuple[str, str], list[dict]], recipe: str, set_name: str) -> dict:
    """CSV columns {metric}_vs_none_{diff,diff_low,diff_high,p,n} (empty on the baseline's own rows)."""
    if not any(name == BASELINE for name, _ in groups):
        return {}
    return {k: v for key in METRIC_COLUMNS for k, v in
            paired_against_baseline(groups, recipe, set_name, key).columns(f"{key}_vs_none").items()}


def _paired_table(groups: dict[tuple[str, str], list[dict]]) -> str:
    """Markdown: recipe minus ``none`` per metric (percentage points), 95% interval, paired t-test p."""
    rows = []
    for recipe, set_name in groups:
        if recipe == BASELINE or (BASELINE, set_name) not in groups:
            continue
        rows.append({"gan_params": recipe, "set": set_name}
                    | {title: paired_against_baseline(groups, recipe, set_name, key).text(scale=100)
                       for key, title in METRIC_COLUMNS.items()})
    if not rows:
        return ""
    return ("\nPaired against 'none' over the folds (recipe minus none, percentage points): mean difference "
            "[95% t-interval], two-sided paired t-test p, n folds; n/a below 2 folds. Folds share training "
            "images, so p is optimistic.\n\n" + markdown_table(rows))


def write_comparison(fold_rows: list[dict], out_dir: Path) -> None:
    """comparison_folds.csv (one row per recipe x set x fold), comparison.csv (means, sds, intervals),
    comparison.md (the study's table layout) and comparison.png (accuracy bars with intervals)."""
    write_csv(out_dir / "comparison_folds.csv", fold_rows)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in fold_rows:
        groups.setdefault((row["gan_params"], row["set"]), []).append(row)
    summary, table, bars = [], [], []
    folds = sorted({row["fold"] for row in fold_rows})
    for (recipe, set_name), rows in groups.items():
        by_fold = {row["fold"]: row for row in rows}
        line = {"gan_params": recipe, "set": set_name}
        line |= {f"cv{k}": (f"{100 * by_fold[k]['accuracy']:.2f} ({by_fold[k]['correct']}/{by_fold[k]['total']})"
                            if k in by_fold else "") for k in folds}
        numbers = {"gan_params": recipe, "set": set_name, "folds": len(rows)}
        for key, title in METRIC_COLUMNS.items():
            values = [row[key] for row in rows if row[key] is not None]
            if not values:
                line[title] = "n/a"
                numbers |= {f"{key}_mean": None, f"{key}_sd": None, f"{key}_low": None, f"{key}_high": None}
                continue
            text, interval = _cell(values)
            line[title] = text
            if key == "accuracy":
                line["accuracy 95% CI"] = interval
            mean, sd, low, high = score_interval(values)
            numbers |= {f"{key}_mean": mean, f"{key}_sd": sd, f"{key}_low": low, f"{key}_high": high}
        numbers |= _paired_columns(groups, recipe, set_name)
        table.append(line)
        summary.append(numbers)
        bars.append({"recipe": recipe, "set": set_name, "mean": numbers["accuracy_mean"],
                     "low": numbers["accuracy_low"], "high": numbers["accuracy_high"]})
    write_csv(out_dir / "comparison.csv", summary)
    atomic_write_text(out_dir / "comparison.md", "Patient-level accuracy per fold (correct/patients; rows marked "
                      f"'{IMAGE_LEVEL_SUFFIX.strip()}': image level, correct/images), mean ± sd over folds (%):\n\n"
                      + markdown_table(table) + _paired_table(groups))
    comparison_plot(bars, out_dir / "comparison.png", metric="accuracy")
