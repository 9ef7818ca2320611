"""Splits: the notebook's nested StratifiedKFold over patients, the study's files, and validation."""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thygan.data.labels import LabelRecord, LabelTable
from thygan.data.splits import (
    cross_validation_folds,
    load_split,
    patient_sort_key,
    patient_strata,
    summary_table,
    write_splits,
)
from thygan.errors import UserError

DIAGNOSES = {"FA": 0, "FTC": 0, "PTC": 1, "FVPTC": 1, "NIFTP": 1}


def study_like_table(num_patients: int = 40, seed: int = 0) -> LabelTable:
    """Patients 1..n (shuffled in file order) with 1-10 images named like T&T's (``12c.jpeg``)."""
    rng = np.random.default_rng(seed)
    names = list(DIAGNOSES)
    records = []
    for patient in rng.permutation(np.arange(1, num_patients + 1)):
        diagnosis = names[int(rng.choice(len(names), p=[0.35, 0.2, 0.3, 0.08, 0.07]))]
        for letter in "abcdefghij"[: int(rng.integers(1, 11))]:
            name = f"{patient}{letter}.jpeg"
            records.append(LabelRecord(name, DIAGNOSES[diagnosis], str(patient), diagnosis))
    return LabelTable(records, ["Non-PTC-like", "PTC-like"], "bi_dataset.json")


def test_patient_order_is_numeric():
    assert sorted(["10", "2", "b", "1", "a"], key=patient_sort_key) == ["1", "2", "10", "a", "b"]


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_folds_reproduce_the_notebook_recipe():
    from sklearn.model_selection import StratifiedKFold

    table = study_like_table()
    patients, strata = patient_strata(table, by="diagnosis")
    # The notebook, written out independently: patients in id order, diagnosis per patient.
    by_patient = {r.patient: r.diagnosis for r in table.records}
    ids = sorted(by_patient, key=int)
    diagnoses = [by_patient[p] for p in ids]
    assert patients == ids and strata == diagnoses
    outer = StratifiedKFold(n_splits=5, shuffle=True, random_state=42)
    folds = cross_validation_folds(patients, strata, folds=5, inner_folds=4, seed=42)
    for k, (rest_idx, test_idx) in enumerate(outer.split(ids, diagnoses)):
        assert folds[k][0]["test"] == [ids[i] for i in test_idx]
        rest = [ids[i] for i in rest_idx]
        inner = StratifiedKFold(n_splits=4, shuffle=True, random_state=42)
        for j, (train_idx, val_idx) in enumerate(inner.split(rest, [by_patient[p] for p in rest])):
            assert folds[k][j]["train"] == [rest[i] for i in train_idx]
            assert folds[k][j]["val"] == [rest[i] for i in val_idx]


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(5, 30), min_size=2, max_size=4), seed=st.integers(0, 2**31 - 1))
def test_split_invariants(counts, seed):
    patients = [str(i) for i in range(sum(counts))]
    strata = [f"d{k}" for k, count in enumerate(counts) for _ in range(count)]
    folds = cross_validation_folds(patients, strata, folds=5, inner_folds=4, seed=seed)
    test_count = Counter()
    for inner in folds:
        test_count.update(inner[0]["test"])
        for split in inner:
            sets = [set(split[key]) for key in ("train", "val", "test")]
            assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]), "a patient in two sets"
            assert set().union(*sets) == set(patients)
            assert all(sets)
    assert test_count == Counter(patients), "every patient in exactly one outer test fold"
    stratum = dict(zip(patients, strata, strict=True))
    for inner in folds:  # stratification: each test fold holds about 1/5 of every diagnosis
        held = Counter(stratum[p] for p in inner[0]["test"])
        for k, count in enumerate(counts):
            assert abs(held[f"d{k}"] - count / 5) < 1


def test_mixed_patient_takes_most_frequent_label_ties_to_smallest():
    table = LabelTable([LabelRecord("a", 2, "p"), LabelRecord("b", 1, "p"), LabelRecord("c", 1, "p"),
                        LabelRecord("d", 2, "q"), LabelRecord("e", 0, "q")])
    assert patient_strata(table, by="label") == (["p", "q"], ["1", "0"])


def test_strata_need_patients_and_diagnoses():
    with pytest.raises(UserError, match="patient id"):
        patient_strata(LabelTable([LabelRecord("a", 0)]))
    with pytest.raises(UserError, match="--stratify label"):
        patient_strata(LabelTable([LabelRecord("a", 0, "1")]), by="diagnosis")
    with pytest.raises(UserError, match="at least 5 patients"):
        cross_validation_folds(["1", "2", "3"], ["a", "a", "b"])


def test_written_files_follow_the_study_layout(tmp_path):
    table = study_like_table()
    write_splits(tmp_path, table)
    cv0 = json.loads((tmp_path / "cv_splits" / "cv0_split.json").read_text())
    assert set(cv0) == {"train", "val", "test"} and all(isinstance(p, int) for p in cv0["test"])
    tested = [p for k in range(5)
              for p in json.loads((tmp_path / "cv_splits" / f"cv{k}_split.json").read_text())["test"]]
    assert sorted(tested) == list(range(1, 41))
    patient_of = {r.filename: r.patient for r in table.records}
    for k in range(5):
        for j in range(4):
            path = tmp_path / "cv_splits" / f"cv{k}_splits" / f"cv_split_{k}_{j}.json"
            files = json.loads(path.read_text())
            assert sorted(sum(files.values(), [])) == sorted(patient_of), "every image in exactly one set"
            if j == 0:  # cv{k}_split.json holds inner fold 0 as patient ids
                assert {key: sorted({int(patient_of[f]) for f in names}) for key, names in files.items()} == \
                    {key: sorted(ids) for key, ids in json.loads(
                        (tmp_path / "cv_splits" / f"cv{k}_split.json").read_text()).items()}
    for i in range(5):
        full = json.loads((tmp_path / "full_data_splits" / f"data_split_{i}.json").read_text())
        assert set(full) == {"train", "val"}
        assert not {patient_of[f] for f in full["train"]} & {patient_of[f] for f in full["val"]}


def four_image_table() -> LabelTable:
    return LabelTable([LabelRecord("1a.jpeg", 0, "1"), LabelRecord("1b.jpeg", 0, "1"),
                       LabelRecord("2a.jpeg", 1, "2"), LabelRecord("3a.jpeg", 1, "3")])


def test_load_split_expands_patient_ids_and_accepts_file_names(tmp_path):
    table = four_image_table()
    (tmp_path / "cv.json").write_text(json.dumps({"train": [1, 2], "test": ["3a.jpeg"]}))
    expected = {"train": ["1a.jpeg", "1b.jpeg", "2a.jpeg"], "test": ["3a.jpeg"]}
    assert load_split(tmp_path / "cv.json", table) == expected


@pytest.mark.parametrize("content, message", [
    ({"train": [1, 99], "test": [3]}, "neither file names nor patients"),
    ({"train": [1], "test": []}, "set 'test' is empty"),
    ({"train": [1, 2], "test": [2]}, "in both 'train' and 'test'"),
    ({"train": ["1a.jpeg"], "test": ["1b.jpeg"]}, "patient 1 is in both"),
    ({"train": "1a.jpeg"}, "expected an object of lists"),
])
def test_load_split_rejects_bad_splits(tmp_path, content, message):
    table = four_image_table()
    (tmp_path / "cv.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match=message):
        load_split(tmp_path / "cv.json", table)


def test_summary_table_counts_images_and_patients():
    table = LabelTable([LabelRecord("1a", 0, "1"), LabelRecord("1b", 0, "1"), LabelRecord("2a", 1, "2"),
                        LabelRecord("3a", 1, "3"), LabelRecord("3b", 1, "3")], ["benign", "malignant"])
    text = summary_table({"cv0": {"train": ["1a", "1b", "2a"], "test": ["3a", "3b"]}}, table)
    lines = text.splitlines()
    assert lines[0].split() == ["split", "set", "benign", "malignant", "total"]
    assert lines[1].split() == ["cv0", "train", "2/1", "1/1", "3/2"]
    assert lines[2].split() == ["cv0", "test", "0/0", "2/1", "2/1"]
