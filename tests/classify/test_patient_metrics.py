"""Patient-level aggregation and metrics against scikit-learn and hand-worked examples."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from thygan.classify.patient_metrics import (
    aggregate_patients,
    bootstrap_intervals,
    per_class_table,
    per_diagnosis_accuracy,
    study_log_lines,
    summary_metrics,
)
from thygan.metrics.paired_folds import mean_interval


def random_predictions(seed: int, n: int, classes: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y] * rng.random((n, 1))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed,n,classes", [(0, 12, 2), (1, 40, 2), (2, 9, 3), (3, 60, 5), (4, 7, 4)])
def test_metrics_match_sklearn(seed, n, classes):
    y, probs = random_predictions(seed, n, classes)
    pred = probs.argmax(1)
    ours = summary_metrics(y, probs)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert ours["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    if len(np.unique(y)) < classes:
        assert ours["roc_auc"] is None
    elif classes == 2:
        assert ours["roc_auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]))
    else:
        assert ours["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))


def test_metrics_with_a_class_never_predicted_and_tied_scores():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[.6, .2, .2], [.6, .2, .2], [.2, .6, .2], [.6, .2, .2], [.2, .6, .2], [.2, .2, .6]])
    pred = probs.argmax(1)
    ours = summary_metrics(y, probs)
    assert ours["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    rows = per_class_table(y, np.array([0, 0, 0, 0, 0, 0]), ["a", "b", "c"])
    assert rows[1] == {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert rows[0]["precision"] == pytest.approx(2 / 6) and rows[0]["recall"] == 1.0


def test_patient_vote_worked_example():
    """Patient 10: one image says 0 (0.55), one says 1 (0.9). The study rounded the mean predicted class
    (0.5 -> 0); thygan averages probabilities: (0.55 + 0.1) / 2 = 0.325 for class 0, so class 1.
    Patient 2 has two diagnoses, which the study kept as two rows; patient ids sort as numbers."""
    patients = ["10", "10", "2", "2", "2"]
    diagnoses = ["PTC", "PTC", "FA", "FA", "FTC"]
    labels = np.array([1, 1, 0, 0, 0])
    probs = np.array([[0.55, 0.45], [0.1, 0.9], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    results = aggregate_patients(patients, diagnoses, labels, probs)
    assert list(zip(results.patients, results.diagnoses)) == [("2", "FA"), ("2", "FTC"), ("10", "PTC")]
    np.testing.assert_allclose(results.probs, [[0.45, 0.55], [0.4, 0.6], [0.325, 0.675]])
    assert results.preds.tolist() == [1, 1, 1] and results.labels.tolist() == [0, 0, 1]
    assert results.image_counts == [2, 1, 2]
    assert per_diagnosis_accuracy(results) == {"FA": (0, 1), "FTC": (0, 1), "PTC": (1, 1)}
    assert study_log_lines(results) == [
        "Patient-level f1 score: 25.00%",  # classes 0: F1 0, 1: 2*1/(2*1+2+0) = 0.5 -> mean 0.25
        "Patient-level accuracy: 33.33% (1/3)",
        "FA Accuracy: 0.00% (0/1)", "FTC Accuracy: 0.00% (0/1)", "PTC Accuracy: 100.00% (1/1)"]


def test_true_class_of_a_mixed_group_is_its_majority():
    results = aggregate_patients(["1"] * 3, [None] * 3, np.array([2, 1, 1]), np.full((3, 3), 1 / 3))
    assert results.labels.tolist() == [1]


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    y, probs = random_predictions(5, 50, 2)
    first = bootstrap_intervals(y, probs, resamples=300, seed=3)
    assert first == bootstrap_intervals(y, probs, resamples=300, seed=3)
    point = summary_metrics(y, probs)
    for name, (low, high) in first.items():
        assert low <= point[name] <= high
    perfect = bootstrap_intervals(y, np.eye(2)[y], resamples=50)
    assert perfect["accuracy"] == [1.0, 1.0]
    none = bootstrap_intervals(y, probs, resamples=0)  # --bootstrap 0: no intervals, no error
    assert none == {"accuracy": None, "macro_f1": None, "balanced_accuracy": None, "roc_auc": None}


def test_fold_summary_reproduces_the_studys_table():
    """The study's baseline row: folds 78.12, 77.42, 87.10, 87.10, 90.32 -> 84.01 +- 5.85."""
    mean, sd, low, high = mean_interval([78.12, 77.42, 87.10, 87.10, 90.32])
    assert (round(mean, 2), round(sd, 2)) == (84.01, 5.85)
    half = 2.7764451051977987 * 5.8493 / np.sqrt(5)  # t(0.975, 4) from tables
    assert low == pytest.approx(mean - half, abs=0.01) and high == pytest.approx(mean + half, abs=0.01)
    assert mean_interval([0.5])[2:] == (None, None)
