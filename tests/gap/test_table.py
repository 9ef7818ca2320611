"""The pairwise table: rows per pair and class, matrices, CSV and markdown."""

import csv
import io

import numpy as np
import pytest

from thygan.gap.embeddings import Embedding
from thygan.gap.measures import frechet_distance
from thygan.gap.table import gap_matrix, gap_rows, rows_to_csv, rows_to_markdown, shared_classes


def embedding(name, labels, class_names, *, shift=0.0, seed=0):
    labels = np.array(labels)
    features = np.random.RandomState(seed).randn(len(labels), 4) + shift + labels[:, None]
    return Embedding(name, features, labels, [f"{name}{i}" for i in range(len(labels))], class_names)


@pytest.fixture
def three_sets():
    source = embedding("source", [0] * 12 + [1] * 12, ["FA", "PTC"])
    # External cohort: class indices swapped relative to the source, matched by name; one class too small.
    external = embedding("external", [0] * 12 + [1] * 3, ["PTC", "FA"], shift=1.0, seed=1)
    unlabelled = embedding("gan", [-1] * 10, None, shift=2.0, seed=2)
    return [source, external, unlabelled]


def test_shared_classes_match_by_name_and_size(three_sets):
    source, external, gan = three_sets
    assert shared_classes(source, external, min_size=10) == ["PTC"]
    assert shared_classes(source, external, min_size=3) == ["FA", "PTC"]
    assert shared_classes(source, gan, min_size=2) == []


def test_rows_per_pair_and_class(three_sets):
    rows = gap_rows(three_sets, min_class_size=10)
    keys = [(r["set_a"], r["set_b"], r["class"], r["n_a"], r["n_b"]) for r in rows]
    assert keys == [("source", "external", "all", 24, 15), ("source", "external", "PTC", 12, 12),
                    ("source", "gan", "all", 24, 10), ("external", "gan", "all", 15, 10)]
    source, external, _ = three_sets
    ptc_rows = rows[1]
    expected = frechet_distance(source.features[source.labels == 1], external.features[external.labels == 0])
    assert ptc_rows["frechet"] == pytest.approx(expected)
    assert gap_rows(three_sets, per_class=False, pairs=[("gan", "source")])[0]["set_a"] == "gan"


def test_matrix_csv_and_markdown(three_sets):
    rows = gap_rows(three_sets, min_class_size=10)
    names = ["source", "external", "gan"]
    matrix = gap_matrix(rows, names, "frechet")
    assert np.isnan(np.diag(matrix)).all() and np.allclose(matrix, matrix.T, equal_nan=True)
    assert matrix[0, 2] == rows[2]["frechet"]
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert [r["class"] for r in parsed] == ["all", "PTC", "all", "all"]
    assert float(parsed[0]["kid"]) == rows[0]["kid"]  # full precision in the CSV
    assert parsed[0]["domain_verdict"] == rows[0]["domain_verdict"]
    assert float(parsed[0]["domain_acc_low"]) == rows[0]["domain_acc_low"]
    markdown = rows_to_markdown(rows).splitlines()
    assert len(markdown) == 2 + len(rows) and markdown[2].startswith("| source | external | all | 24 | 15 |")
    row = rows[0]
    interval = f"{row['domain_acc']:.3f} [{row['domain_acc_low']:.2f}, {row['domain_acc_high']:.2f}]"
    assert f"| {interval} | {row['domain_verdict']} |" in markdown[2]
    assert markdown[0].count("|") == markdown[1].count("|") == markdown[2].count("|")
