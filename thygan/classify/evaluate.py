"""The study's dlc_eval.py, deterministic: predictions for a labelled set, ``test_preds.csv``,
``patient_preds.csv``, the patient-level confusion matrix and log lines, and ``metrics.json``
(patient- and image-level metrics, per-class and per-diagnosis tables, bootstrap 95% intervals).
"""

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thygan.classify.data import EvalDataset, check_image_sizes, class_names_of, real_items
from thygan.classify.models import LoadedClassifier, head, read_classifier
from thygan.classify.options import EvalOptions, namespace_line, options_to_json
from thygan.classify.patient_metrics import (
    aggregate_patients,
    bootstrap_intervals,
    confusion,
    per_class_table,
    per_diagnosis_accuracy,
    study_log_lines,
    summary_metrics,
)
from thygan.classify.reports import confusion_matrix_plot
from thygan.classify.train import predict_probs
from thygan.data.labels import read_labels
from thygan.data.splits import load_split, patient_sort_key
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.tables import write_csv
from thygan.runs import RunLog

LOG_FILE = "eval_log.txt"
METRICS_FILE = "metrics.json"
# How training fed images to the model, stored in its checkpoints (``extra``) and used again here
# unless the command line overrides them: (name, default for files that do not record it).
INPUT_SETTINGS = (("crop_size", 512), ("eval_crop", "center"))


def evaluation_items(opts: EvalOptions):
    """(items, labels table) of the evaluated set: the split's ``split_key`` list, or every image."""
    table = read_labels(opts.labels)
    if opts.split_file:
        split = load_split(opts.split_file, table)
        if opts.split_key not in split:
            raise UserError(f"--split_file: {opts.split_file} has no '{opts.split_key}' list "
                            f"(keys: {', '.join(split)})")
        names, where = split[opts.split_key], f"{opts.split_file} '{opts.split_key}'"
    else:
        names, where = [r.filename for r in table.records if r.label is not None], opts.labels
    return real_items(opts.src_dir, table, names, where=where), table


@dataclass
class PreparedEvaluation:
    """Everything checked before an evaluation writes a file."""

    opts: EvalOptions              # with the input settings resolved (no None left)
    items: list                    # the evaluated images (ImageItem)
    table: object                  # their LabelTable
    loaded: LoadedClassifier
    settings_line: str             # where the input settings came from, for the log


def with_training_settings(opts: EvalOptions, loaded: LoadedClassifier) -> tuple[EvalOptions, str]:
    """Fill the input settings left None from the checkpoint (else the defaults); returns the options
    and one line saying where each came from."""
    stored = (loaded.meta or {}).get("extra", {})
    values, parts = {}, []
    for name, default in INPUT_SETTINGS:
        given, trained = getattr(opts, name), stored.get(name)
        if given is not None:
            values[name] = given
            why = f"--{name}" + (f"; the model was trained with {trained}" if trained not in (None, given) else "")
        elif trained is not None:
            values[name], why = trained, "as the model was trained"
        else:
            values[name], why = default, "default; the model file does not record it"
        parts.append(f"{name} {values[name]} ({why})")
    return dataclasses.replace(opts, **values), "input settings: " + ", ".join(parts)


def prepare_evaluation(opts: EvalOptions) -> PreparedEvaluation:
    """Read the labels, split and model, resolve the input settings and check the images fit them."""
    items, table = evaluation_items(opts)
    loaded = read_classifier(opts.mdl_loc, model_type=opts.model_type)
    opts, line = with_training_settings(opts, loaded)
    num_classes = _outputs(loaded.model)
    too_big = sorted({item.label for item in items if item.label >= num_classes})
    if too_big:
        raise UserError(f"--labels: label {too_big[0]} is not a class of the model ({num_classes} classes)")
    check_image_sizes(items, opts.crop_size, what="--crop_size")
    return PreparedEvaluation(opts, items, table, loaded, line)


def _image_rows(items, probs: np.ndarray, patients: list[str]) -> list[dict]:
    rows = []
    for item, p, patient in zip(items, probs, patients):
        row = {"patient": patient, "diagnosis": item.diagnosis, "class": item.label, "pred_class": int(p.argmax()),
               "pred_prob": round(float(p.max()), 6), "filename": item.name}
        rows.append(row | {f"prob_{c}": round(float(v), 6) for c, v in enumerate(p)})
    order = sorted(range(len(rows)), key=lambda i: patient_sort_key(rows[i]["patient"]))  # stable: file order
    return [rows[i] for i in order]


def evaluate_model(opts: EvalOptions, run_dir: str | Path, *, echo: Callable[[str], None] = print,
                   prepared: PreparedEvaluation | None = None) -> dict:
    """Evaluate ``opts.mdl_loc`` on the set; writes the files above into ``run_dir``; returns metrics.

    Input settings (crop size, evaluation crops) left None in ``opts`` are the checkpoint's.
    ``prepared``: the result of :func:`prepare_evaluation` when the caller checked the inputs first.
    """
    prepared = prepared or prepare_evaluation(opts)
    opts, items, table, loaded = prepared.opts, prepared.items, prepared.table, prepared.loaded
    run_dir = Path(run_dir)
    log = RunLog(run_dir / LOG_FILE, echo=echo)
    log(namespace_line(opts))
    log(prepared.settings_line)
    atomic_write_text(run_dir / "options.json", options_to_json(opts))
    num_classes = _outputs(loaded.model)
    class_names = loaded.class_names or class_names_of(table)
    if len(class_names) != num_classes:
        class_names = [str(c) for c in range(num_classes)]
    if not all(item.patient for item in items):
        log("note: some images have no patient in --labels; each such image counts as its own patient")
    patients = [item.patient or item.name for item in items]

    device = pick_device(opts.device)
    dataset = EvalDataset(items, crop_size=opts.crop_size, mode=opts.eval_crop)
    probs = predict_probs(loaded.model.to(device), dataset, batch_size=opts.batch_size, workers=opts.workers,
                          device=device).double().numpy()
    labels = np.asarray([item.label for item in items], np.int64)
    write_csv(run_dir / "test_preds.csv", _image_rows(items, probs, patients))

    results = aggregate_patients(patients, [item.diagnosis for item in items], labels, probs)
    write_csv(run_dir / "patient_preds.csv", [
        {"patient": p, "diagnosis": d, "class": int(y), "pred_class": int(q.argmax()), "images": n}
        | {f"prob_{c}": round(float(v), 6) for c, v in enumerate(q)}
        for p, d, y, q, n in zip(results.patients, results.diagnoses, results.labels, results.probs,
                                 results.image_counts)])
    for line in study_log_lines(results):
        log(line)
    cm = confusion(results.labels, results.preds, num_classes)
    confusion_matrix_plot(cm, class_names, run_dir / "Conf_Matrix.png")
    patient = summary_metrics(results.labels, results.probs)
    intervals = bootstrap_intervals(results.labels, results.probs, resamples=opts.bootstrap, seed=opts.seed)
    for name, value in patient.items():
        interval = intervals.get(name)
        shown = "n/a" if value is None else f"{100 * value:.2f}%"
        if interval is not None:
            shown += f" [95% CI {100 * interval[0]:.2f}-{100 * interval[1]:.2f}]"
        log(f"Patient-level {name.replace('_', ' ')}: {shown}")
    metrics = {
        "model": str(opts.mdl_loc), "model_type": loaded.model_type, "class_names": class_names,
        "images": len(items), "patients": len(results.labels), "eval_crop": opts.eval_crop,
        "patient_level": patient | {"correct": int((results.labels == results.preds).sum()),
                                    "total": len(results.labels), "intervals_95": intervals,
                                    "bootstrap": {"resamples": opts.bootstrap, "seed": opts.seed},
                                    "confusion_matrix": cm.tolist(),
                                    "per_class": per_class_table(results.labels, results.preds, class_names),
                                    "per_diagnosis": {d: {"correct": c, "total": n} for d, (c, n)
                                                      in per_diagnosis_accuracy(results).items()}},
        "image_level": summary_metrics(labels, probs) | {"correct": int((probs.argmax(axis=1) == labels).sum()),
                                                         "total": int(len(labels))},
    }
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=1) + "\n")
    return metrics


def _outputs(model: torch.nn.Module) -> int:
    return head(model).out_features
