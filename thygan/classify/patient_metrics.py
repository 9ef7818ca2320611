"""Patient-level results: aggregation of image predictions, the study's metrics, and more.

Aggregation: a patient's images are grouped by (patient, diagnosis) as in the study; the group's
probability is the mean of its images' softmax probabilities and its prediction the class of
highest mean probability (an exact tie goes to the lower class index). The study instead rounded
the mean of the predicted classes, so a 50/50 vote always went to class 0; thygan breaks such a
vote by the probabilities. A group's true class is its images' most frequent label (ties to the
lower index).

Metrics (the same definitions as scikit-learn, computed here with numpy so that the bootstrap's
thousands of resamples take a fraction of a second; the tests compare them with sklearn):
accuracy; macro F1 over the classes that occur in truth or prediction; balanced accuracy = mean
recall over the classes that occur in truth; ROC AUC from the probabilities (binary: of class 1;
more classes: the unweighted mean of one-vs-rest AUCs), undefined when a class is missing.
Intervals: 2.5th and 97.5th percentiles over bootstrap resamples of the patients (seeded, so an
evaluation is reproducible).
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from thygan.data.splits import patient_sort_key


@dataclass
class PatientResults:
    """One row per (patient, diagnosis) group, sorted by patient id."""

    patients: list[str]
    diagnoses: list[str | None]
    labels: np.ndarray      # [P] int64 true class
    probs: np.ndarray       # [P, C] float64 mean image probability
    image_counts: list[int]

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def aggregate_patients(patients: list[str], diagnoses: list[str | None], labels: np.ndarray,
                       probs: np.ndarray) -> PatientResults:
    """Image rows -> patient rows (see module docstring). probs: [N, C] softmax probabilities."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for index, key in enumerate(zip(patients, diagnoses)):
        groups.setdefault(key, []).append(index)
    keys = sorted(groups, key=lambda k: (patient_sort_key(k[0]), k[1] or ""))
    rows_labels, rows_probs = [], []
    for key in keys:
        members = groups[key]
        counts = Counter(int(labels[i]) for i in members)
        rows_labels.append(min(counts, key=lambda c: (-counts[c], c)))
        rows_probs.append(probs[members].mean(axis=0))
    return PatientResults([k[0] for k in keys], [k[1] for k in keys], np.asarray(rows_labels, np.int64),
                          np.asarray(rows_probs, np.float64), [len(groups[k]) for k in keys])


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[C, C] counts, rows = truth, columns = prediction."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    cm = confusion(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    denominator = cm.sum(axis=0) + cm.sum(axis=1)  # 2TP + FP + FN
    present = denominator > 0
    return float(np.mean(2 * tp[present] / denominator[present]))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    cm = confusion(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney U / (n_pos * n_neg), ties counted half (rank averaging)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """ROC AUC (see module docstring); None when some class has no example in ``y_true``."""
    num_classes = probs.shape[1]
    if np.unique(y_true).size < num_classes or num_classes < 2:
        return None
    if num_classes == 2:
        return _binary_auc(y_true == 1, probs[:, 1])
    return float(np.mean([_binary_auc(y_true == c, probs[:, c]) for c in range(num_classes)]))


def summary_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    num_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, num_classes),
            "balanced_accuracy": balanced_accuracy(y_true, y_pred, num_classes), "roc_auc": roc_auc(y_true, probs)}


def bootstrap_intervals(y_true: np.ndarray, probs: np.ndarray, *, resamples: int = 1000,
                        seed: int = 0) -> dict[str, list[float] | None]:
    """95% percentile intervals of :func:`summary_metrics` over resampled patients."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        index = rng.integers(0, y_true.size, y_true.size)
        for name, value in summary_metrics(y_true[index], probs[index]).items():
            if value is not None:
                draws.setdefault(name, []).append(value)
    names = ("accuracy", "macro_f1", "balanced_accuracy", "roc_auc")
    return {name: [float(np.percentile(draws[name], 2.5)), float(np.percentile(draws[name], 97.5))]
            if draws.get(name) and len(draws[name]) >= resamples // 2 else None for name in names}


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> list[dict]:
    """Precision, recall, F1 and support of each class (0 where undefined)."""
    cm = confusion(y_true, y_pred, len(class_names))
    rows = []
    for c, name in enumerate(class_names):
        tp, predicted, support = int(cm[c, c]), int(cm[:, c].sum()), int(cm[c].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * tp / (predicted + support) if predicted + support else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def per_diagnosis_accuracy(results: PatientResults) -> dict[str, tuple[int, int]]:
    """{diagnosis: (correct patients, patients)} in first-seen order of sorted diagnoses."""
    table: dict[str, list[int]] = {}
    for diagnosis, ok in zip(results.diagnoses, results.labels == results.preds):
        cell = table.setdefault(str(diagnosis), [0, 0])
        cell[0] += int(ok)
        cell[1] += 1
    return {name: (c, n) for name, (c, n) in sorted(table.items())}


def study_log_lines(results: PatientResults) -> list[str]:
    """The study's eval_log.txt lines: patient-level F1, accuracy and per-diagnosis accuracy."""
    num_classes = results.probs.shape[1]
    correct = int((results.labels == results.preds).sum())
    total = len(results.labels)
    lines = [f"Patient-level f1 score: {100 * macro_f1(results.labels, results.preds, num_classes):.2f}%",
             f"Patient-level accuracy: {100 * correct / total:.2f}% ({correct}/{total})"]
    for diagnosis, (c, n) in per_diagnosis_accuracy(results).items():
        lines.append(f"{diagnosis} Accuracy: {100 * c / n:.2f}% ({c}/{n})")
    return lines
