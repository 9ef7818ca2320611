"""Patient-grouped, stratified cross-validation splits in the study's file layouts, and their loader.

Recipe (the study's notebook "Creating Cross Validation Folds"): patients, in ascending id order,
are split by ``StratifiedKFold(5, shuffle=True, random_state=42)`` stratified by diagnosis into
outer folds k, whose held-out patients are the test set; the remaining patients are split again by
``StratifiedKFold(4, shuffle=True, random_state=42)`` into inner folds j (train / val). Full-data
splits are ``StratifiedKFold(5, ...)`` over all patients (train / val). Because folds are drawn
over patients, no patient is ever in two sets of one split, and every patient is in exactly one
outer test fold.

Layout written under ``dest`` (the study's ``data/`` folder):
``cv_splits/cv{k}_split.json`` (patient ids, inner fold 0; keys train/val/test),
``cv_splits/cv{k}_splits/cv_split_{k}_{j}.json`` (file names) and
``full_data_splits/data_split_{i}.json`` (file names; keys train/val).

A patient's stratum is its diagnosis (or label); a patient whose images disagree (a pseudo-patient
made of slide regions) takes its most frequent value, ties to the smallest.
"""

import json
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from thygan.data.labels import LabelTable
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.json_file import read_json

SET_NAMES = ("train", "val", "test")


def patient_sort_key(patient: str) -> tuple:
    """Numbers in numeric order before other ids in text order ("2" < "10" < "a")."""
    return (0, int(patient), "") if patient.isdigit() else (1, 0, patient)


def patient_strata(table: LabelTable, *, by: str = "diagnosis") -> tuple[list[str], list[str]]:
    """Patients in ascending id order and the stratum of each (``by`` = diagnosis or label)."""
    if not table.has_patients:
        raise UserError(f"{table.source}: every image needs a patient id (the 'meta' entries or a CSV "
                        f"patient column) to make patient-grouped splits")
    if by not in ("diagnosis", "label"):
        raise UserError(f"--stratify: expected diagnosis or label, got '{by}'")
    groups = table.by_patient()
    patients = sorted(groups, key=patient_sort_key)
    strata = []
    for patient in patients:
        values = [str(record.diagnosis if by == "diagnosis" else record.label) for record in groups[patient]]
        if by == "diagnosis" and any(record.diagnosis is None for record in groups[patient]):
            raise UserError(f"{table.source}: patient {patient} has images without a diagnosis "
                            f"(use --stratify label)")
        counts = Counter(values)
        strata.append(min(counts, key=lambda value: (-counts[value], value)))
    return patients, strata


def _stratified_folds(patients: list[str], strata: list[str], *, folds: int, seed: int,
                      level: str = "outer folds", flag: str = "--folds") -> list[tuple]:
    """[(kept patients, held-out patients)] of StratifiedKFold(folds, shuffle=True, seed).

    Args:
        level: What these folds are, for messages ("outer folds", "inner folds of outer fold 2", ...).
        flag: The option that sets ``folds``, for messages.

    Raises:
        UserError: Too few patients for ``folds`` folds (one line naming the level and the smallest class).
    """
    from sklearn.model_selection import StratifiedKFold

    check_folds_feasible(strata, folds=folds, level=level, flag=flag)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    ids = np.array(patients, dtype=object)
    with warnings.catch_warnings():
        # sklearn warns when a stratum has fewer patients than folds; the table printed by the
        # command shows the consequence (that stratum is missing from some sets) instead.
        warnings.simplefilter("ignore", UserWarning)
        pairs = list(splitter.split(np.zeros(len(patients)), np.array(strata)))
    return [(list(ids[keep]), list(ids[held])) for keep, held in pairs]


def check_folds_feasible(strata: list[str], *, folds: int, level: str = "outer folds",
                         flag: str = "--folds") -> None:
    """Refuse what StratifiedKFold refuses (fewer patients than folds, or every class smaller than
    ``folds``) with one line naming the level of the folds and the smallest class's patient count."""
    counts = Counter(strata)
    if len(strata) >= folds and counts and max(counts.values()) >= folds:
        return
    smallest = min(counts, key=lambda stratum: (counts[stratum], stratum)) if counts else None
    where = f"smallest class '{smallest}': {counts[smallest]} patients" if counts else "no patients"
    most = max(counts.values(), default=0)
    hint = f"; use {flag}={most} or fewer" if most >= 2 else ""
    raise UserError(f"{flag}: {folds} {level} need a class with at least {folds} patients, but the "
                    f"{len(strata)} patients there have at most {most} per class ({where}){hint}")


FOLD_FLAGS = ("--folds", "--inner-folds")  # the options that set the outer and inner folds, for messages


def cross_validation_folds(patients: list[str], strata: list[str], *, folds: int = 5, inner_folds: int = 4,
                           seed: int = 42, flags: tuple[str, str] = FOLD_FLAGS) -> list[list[dict[str, list[str]]]]:
    """Nested folds: ``result[k][j] = {"train", "val", "test"}`` patient ids (see module docstring)."""
    stratum_of = dict(zip(patients, strata, strict=True))
    result = []
    for k, (rest, test) in enumerate(_stratified_folds(patients, strata, folds=folds, seed=seed, flag=flags[0])):
        inner = _stratified_folds(rest, [stratum_of[p] for p in rest], folds=inner_folds, seed=seed,
                                  level=f"inner folds of outer fold {k}", flag=flags[1])
        result.append([{"train": train, "val": val, "test": test} for train, val in inner])
    tested = [patient for fold in result for patient in fold[0]["test"]]
    assert sorted(tested) == sorted(patients), "every patient must be in exactly one outer test fold"
    return result


def full_data_splits(patients: list[str], strata: list[str], *, folds: int = 5, seed: int = 42,
                     flag: str = FOLD_FLAGS[0]) -> list[dict[str, list[str]]]:
    """``data_split_{i}``: ``{"train", "val"}`` patient ids, one per fold of all patients."""
    pairs = _stratified_folds(patients, strata, folds=folds, seed=seed, level="full-data folds", flag=flag)
    return [{"train": train, "val": val} for train, val in pairs]


def expand_patients(split: dict[str, list[str]], table: LabelTable) -> dict[str, list[str]]:
    """Patient ids -> the file names of their images, in labels-file order."""
    groups = table.by_patient()
    return {key: [record.filename for patient in ids for record in groups[patient]]
            for key, ids in split.items()}


def _patient_json(split: dict[str, list[str]]) -> dict[str, list]:
    """Integer ids where every id is a number, as in the study's ``cv{k}_split.json``."""
    numeric = all(patient.isdigit() for ids in split.values() for patient in ids)
    return {key: [int(p) if numeric else p for p in ids] for key, ids in split.items()}


def _write_json(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(content, indent=1) + "\n")


def plan_splits(table: LabelTable, *, stratify: str = "diagnosis", folds: int = 5, inner_folds: int = 4,
                seed: int = 42, flags: tuple[str, str] = FOLD_FLAGS) -> dict[Path, dict]:
    """Every split file :func:`write_splits` writes, relative to its ``dest``, with its content; raises
    UserError (one line, naming ``flags``) when the cohort is too small for the folds, before anything
    is written. Cheap: a pipeline's dry run calls it to check the folds are possible."""
    patients, strata = patient_strata(table, by=stratify)
    files: dict[Path, dict] = {}
    for k, inner in enumerate(cross_validation_folds(patients, strata, folds=folds, inner_folds=inner_folds,
                                                     seed=seed, flags=flags)):
        files[Path("cv_splits") / f"cv{k}_split.json"] = _patient_json(inner[0])
        for j, split in enumerate(inner):
            files[Path("cv_splits") / f"cv{k}_splits" / f"cv_split_{k}_{j}.json"] = expand_patients(split, table)
    for i, split in enumerate(full_data_splits(patients, strata, folds=folds, seed=seed, flag=flags[0])):
        files[Path("full_data_splits") / f"data_split_{i}.json"] = expand_patients(split, table)
    return files


def write_splits(dest: str | os.PathLike, table: LabelTable, *, stratify: str = "diagnosis", folds: int = 5,
                 inner_folds: int = 4, seed: int = 42) -> dict[str, dict[str, list[str]]]:
    """Write the study's split files under ``dest``; returns {file path: file-name split} written
    (the patient-id ``cv{k}_split.json`` files are written but not returned)."""
    dest = Path(dest)
    written = {}
    for relative, content in plan_splits(table, stratify=stratify, folds=folds, inner_folds=inner_folds,
                                         seed=seed).items():
        _write_json(dest / relative, content)
        if relative.parent != Path("cv_splits"):  # the file-name splits, not the patient-id copies
            written[str(dest / relative)] = content
    return written


def _resolve(entries: list, table: LabelTable, groups: dict, where: str) -> list[str]:
    """Entries that are file names or patient ids -> file names; unknown entries are an error."""
    names, unknown = [], []
    for entry in entries:
        text = str(entry)
        if isinstance(entry, str) and text in table:
            names.append(text)
        elif text in groups:
            names.extend(record.filename for record in groups[text])
        else:
            unknown.append(text)
    if unknown:
        raise UserError(f"{where}: {len(unknown)} ids are neither file names nor patients of {table.source} "
                        f"(e.g. {', '.join(unknown[:3])})")
    return names


def load_split(path: str | os.PathLike, table: LabelTable) -> dict[str, list[str]]:
    """Read a split file holding file names or patient ids; returns file names per set.

    Raises:
        UserError: Unreadable file, unknown ids, an empty set, or an image or patient in two sets.
    """
    path = Path(path)
    content = read_json(path, what="split file")
    if not isinstance(content, dict) or not content or not all(isinstance(v, list) for v in content.values()):
        raise UserError(f"{path}: expected an object of lists such as {{\"train\": [...], \"val\": [...]}}")
    groups = table.by_patient()
    split = {}
    for key, entries in content.items():
        split[key] = _resolve(entries, table, groups, f"{path}: '{key}'")
        if not split[key]:
            raise UserError(f"{path}: set '{key}' is empty")
    _check_disjoint(split, table, path)
    return split


def _check_disjoint(split: dict[str, list[str]], table: LabelTable, path: Path) -> None:
    seen_file, seen_patient = {}, {}
    for key, names in split.items():
        for name in names:
            if seen_file.setdefault(name, key) != key:
                raise UserError(f"{path}: '{name}' is in both '{seen_file[name]}' and '{key}'")
            patient = table.find(name).patient
            if patient is not None and seen_patient.setdefault(patient, key) != key:
                raise UserError(f"{path}: patient {patient} is in both '{seen_patient[patient]}' and '{key}'")


def summary_table(splits: dict[str, dict[str, list[str]]], table: LabelTable) -> str:
    """Images/patients per class per set, one row per (split, set): a fixed-width text table."""
    labels = sorted({record.label for record in table.records if record.label is not None})
    header = ["split", "set"] + [table.class_name(label) for label in labels] + ["total"]
    rows = [header]
    for split_name, split in splits.items():
        for key, names in split.items():
            records = [table.find(name) for name in names]
            cells = [_count_cell([r for r in records if r.label == label]) for label in labels]
            rows.append([split_name, key] + cells + [_count_cell(records)])
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    lines = ["  ".join(cell.rjust(width) if col > 1 else cell.ljust(width)
                       for col, (cell, width) in enumerate(zip(row, widths, strict=True))) for row in rows]
    return "\n".join(lines) + "\n(cells: images/patients)"


def _count_cell(records: list) -> str:
    return f"{len(records)}/{len({r.patient for r in records if r.patient is not None})}"
