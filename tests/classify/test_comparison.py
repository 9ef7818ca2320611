"""The dlc-cv comparison table: its paired test of each recipe against 'none' agrees with scipy."""

import csv

import pytest
from scipy import stats

from thygan.classify.cv import METRIC_COLUMNS, write_comparison


def fold_rows(recipe, accuracies, set_name="cv test"):
    return [{"gan_params": recipe, "set": set_name, "fold": k, "correct": round(10 * a), "total": 10}
            | {key: a - 0.01 * i for i, key in enumerate(METRIC_COLUMNS)} for k, a in enumerate(accuracies)]


def test_paired_columns_and_table_against_scipy(tmp_path):
    none, mix = [0.70, 0.60, 0.80, 0.75], [0.80, 0.62, 0.90, 0.74]
    rows = fold_rows("none", none) + fold_rows("mix", mix) + fold_rows("mix", mix[:1], "ext") \
        + fold_rows("none", none[:1], "ext")
    write_comparison(rows, tmp_path)
    summary = list(csv.DictReader((tmp_path / "comparison.csv").open()))
    line = next(r for r in summary if r["gan_params"] == "mix" and r["set"] == "cv test")
    expected = stats.ttest_rel(mix, none)
    interval = expected.confidence_interval(0.95)
    assert float(line["accuracy_vs_none_p"]) == pytest.approx(expected.pvalue, rel=1e-9)
    assert float(line["accuracy_vs_none_diff"]) == pytest.approx(0.0525, abs=1e-12)
    assert float(line["accuracy_vs_none_diff_low"]) == pytest.approx(interval.low, rel=1e-9)
    assert float(line["macro_f1_vs_none_p"]) == pytest.approx(expected.pvalue, rel=1e-9)  # shifted alike
    assert line["accuracy_vs_none_n"] == "4"
    baseline = next(r for r in summary if r["gan_params"] == "none" and r["set"] == "cv test")
    assert baseline["accuracy_vs_none_p"] == "" and baseline["accuracy_vs_none_n"] == "0"
    table = (tmp_path / "comparison.md").read_text()
    paired = table[table.index("Paired against 'none'"):]
    assert f"| mix | cv test | +5.25 [{100 * interval.low:.2f}, {100 * interval.high:.2f}], " \
           f"p {expected.pvalue:.3f}, n 4 |" in paired
    assert "| mix | ext | n/a (n 1) |" in paired          # one fold: no test
    assert "| none |" not in paired


def test_no_baseline_no_paired_columns(tmp_path):
    write_comparison(fold_rows("a", [0.5, 0.6]) + fold_rows("b", [0.6, 0.7]), tmp_path)
    assert "vs_none" not in (tmp_path / "comparison.csv").read_text()
    assert "Paired" not in (tmp_path / "comparison.md").read_text()
