"""The pairwise gap table: every pair of sets, over all images and per class, as CSV and markdown."""

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from thygan.gap.domain_accuracy import TOO_SMALL
from thygan.gap.embeddings import Embedding
from thygan.gap.measures import DOMAIN_DETAILS, GAP_MEASURES, GapOptions, gap_measures
from thygan.io.atomic import atomic_write_text
from thygan.io.tables import csv_text
from thygan.progress import progress as progress_bar

ALL_CLASSES = "all"
COLUMNS = ("set_a", "set_b", "class", "n_a", "n_b") + GAP_MEASURES + DOMAIN_DETAILS
HEADINGS = {"frechet": "Frechet", "kid": "KID", "domain_acc": "domain acc.", "knn_overlap": "kNN overlap"}


def default_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair, in the order the sets were given."""
    return list(combinations(names, 2))


def shared_classes(a: Embedding, b: Embedding, *, min_size: int) -> list[str]:
    """Class keys with at least ``min_size`` images in both sets, sorted."""
    keys_a, keys_b = a.class_keys(), b.class_keys()
    common = (set(keys_a.tolist()) & set(keys_b.tolist())) - {""}
    return sorted(key for key in common if min((keys_a == key).sum(), (keys_b == key).sum()) >= min_size)


def gap_rows(embeddings: Sequence[Embedding], *, pairs: Sequence[tuple[str, str]] | None = None,
             per_class: bool = True,      # add a row per class both sets have
             min_class_size: int = 10,    # images a class needs in each set for its own row
             opts: GapOptions | None = None, progress: bool = False) -> list[dict]:
    """One row per (pair, class) with COLUMNS; class 'all' uses every image of both sets.

    Args:
        embeddings: The sets' features (names unique).
        pairs: (name, name) pairs to compare; default every pair.
        per_class: Also compare the images of each shared class (labels matched by class name, or
            by index when a set has no names).
        min_class_size: Skip classes with fewer images than this in either set.
        opts: Settings of the measures (default GapOptions()).
        progress: Show a progress bar over the comparisons.
    """
    from threadpoolctl import threadpool_limits

    opts = opts or GapOptions()
    by_name = {e.name: e for e in embeddings}
    pairs = list(pairs) if pairs is not None else default_pairs(list(by_name))
    jobs = []
    for name_a, name_b in pairs:
        a, b = by_name[name_a], by_name[name_b]
        jobs.append((a, b, ALL_CLASSES, np.ones(len(a), bool), np.ones(len(b), bool)))
        for key in shared_classes(a, b, min_size=min_class_size) if per_class else []:
            jobs.append((a, b, key, a.class_keys() == key, b.class_keys() == key))
    rows = []
    bar = progress_bar(jobs, desc="gap measures", unit="pair", disable=not progress, leave=False)
    # One BLAS thread: the per-pair matrices are small, and OpenBLAS's threads then spend more on
    # synchronising than they gain; on a busy 2-core machine they made the measures 5-50x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        for a, b, key, mask_a, mask_b in bar:
            measures = gap_measures(a.features[mask_a], b.features[mask_b], opts=opts)
            rows.append({"set_a": a.name, "set_b": b.name, "class": key, "n_a": int(mask_a.sum()),
                         "n_b": int(mask_b.sum()), **measures})
    return rows


def gap_matrix(rows: Sequence[dict], names: Sequence[str], measure: str, *,
               cls: str = ALL_CLASSES) -> np.ndarray:
    """[S, S] symmetric matrix of ``measure`` over the given set names (NaN where not compared)."""
    matrix = np.full([len(names), len(names)], np.nan)
    for i, j, row in _cells(rows, names, cls):
        matrix[i, j] = matrix[j, i] = row[measure]
    return matrix


def domain_notes(rows: Sequence[dict], names: Sequence[str], *, cls: str = ALL_CLASSES) -> np.ndarray:
    """[S, S] object array of text for the domain accuracy cells: the 95 % interval, and the verdict
    when it is "n too small to tell" ('' where not compared)."""
    notes = np.full([len(names), len(names)], "", dtype=object)
    for i, j, row in _cells(rows, names, cls):
        if not math.isnan(row["domain_acc_low"]):
            notes[i, j] = f"[{row['domain_acc_low']:.2f}, {row['domain_acc_high']:.2f}]"
        if row["domain_verdict"] == TOO_SMALL:
            notes[i, j] = (notes[i, j] + "\n" + TOO_SMALL.replace(" to tell", "")).strip()
        notes[j, i] = notes[i, j]
    return notes


def _cells(rows: Sequence[dict], names: Sequence[str], cls: str):
    """(i, j, row) for the rows of class ``cls`` between two of ``names``."""
    index = {name: i for i, name in enumerate(names)}
    for row in rows:
        if row["class"] == cls and row["set_a"] in index and row["set_b"] in index:
            yield index[row["set_a"]], index[row["set_b"]], row


def format_value(value: float, measure: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if measure in ("domain_acc", "knn_overlap"):
        return f"{value:.3f}"
    return f"{value:.4g}"


def rows_to_csv(rows: Sequence[dict]) -> str:
    """CSV with COLUMNS; measures at full precision (empty where NaN)."""
    return csv_text([{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
                     for row in rows], COLUMNS)


def domain_cell(row: dict) -> str:
    """Domain accuracy with its 95 % interval, e.g. ``0.975 [0.88, 0.99]`` (``-`` where not measured)."""
    if math.isnan(row["domain_acc"]):
        return "-"
    return f"{row['domain_acc']:.3f} [{row['domain_acc_low']:.2f}, {row['domain_acc_high']:.2f}]"


def rows_to_markdown(rows: Sequence[dict]) -> str:
    """A GitHub markdown table of the rows, measures rounded for reading; domain accuracy with its
    interval and verdict (thygan.gap.domain_accuracy)."""
    head = ["set A", "set B", "class", "n A", "n B", "Frechet", "KID", "domain acc. [95% CI]", "domain verdict",
            "kNN overlap"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * 5 + "---|---:|"]
    for row in rows:
        cells = [row["set_a"], row["set_b"], row["class"], str(row["n_a"]), str(row["n_b"]),
                 format_value(row["frechet"], "frechet"), format_value(row["kid"], "kid"), domain_cell(row),
                 row["domain_verdict"], format_value(row["knn_overlap"], "knn_overlap")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: Sequence[dict], csv_path, markdown_path) -> None:
    """Write the CSV and the markdown table atomically."""
    atomic_write_text(csv_path, rows_to_csv(rows))
    atomic_write_text(markdown_path, rows_to_markdown(rows))
