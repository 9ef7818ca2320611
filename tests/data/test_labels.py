"""Labels: the study's JSON, CSV and class sub-folders read into one record type, and dataset.json."""

import json

import pytest

from thygan.data.labels import LabelRecord, LabelTable, dataset_json, read_labels, write_dataset_json
from thygan.errors import UserError


def write_json(path, content):
    path.write_text(json.dumps(content))
    return path


def test_study_bi_dataset_json(tmp_path):
    path = write_json(tmp_path / "bi_dataset.json", {
        "labels": [["100a.jpeg", 0], ["2b.jpeg", 1]],
        "meta": [["100a.jpeg", 0, "100", "FA"], ["2b.jpeg", 1, "2", "PTC"]],
    })
    table = read_labels(path)
    assert table.records == [LabelRecord("100a.jpeg", 0, "100", "FA"), LabelRecord("2b.jpeg", 1, "2", "PTC")]
    assert table.has_patients and table.class_names is None


def test_labels_only_and_meta_only(tmp_path):
    labels_only = read_labels(write_json(tmp_path / "mc.json", {"labels": [["1a.jpeg", 4]]}))
    assert labels_only.records == [LabelRecord("1a.jpeg", 4)] and not labels_only.has_patients
    meta_only = read_labels(write_json(tmp_path / "ext.json", {"meta": [["NIK-1_1.jpeg", 1, 7, "NIFTP"]]}))
    assert meta_only.records == [LabelRecord("NIK-1_1.jpeg", 1, "7", "NIFTP")]  # patient ids become text


@pytest.mark.parametrize("content, message", [
    ({"labels": [["a.png", 0]], "meta": [["a.png", 1, "1", "X"]]}, "label 0 in 'labels' but 1"),
    ({"labels": [["a.png", 0]], "meta": [["b.png", 0, "1", "X"]]}, "which 'labels' does not"),
    ({"labels": [["a.png", 0], ["a.png", 0]]}, "listed twice"),
    ({"labels": [["a.png", "zero"]]}, "expected an integer class label"),
    ({"labels": [["a.png", True]]}, "expected an integer class label"),
    ({"other": []}, "neither 'labels' nor 'meta'"),
    ({"labels": "a.png"}, "must be a list of lists"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_json_is_a_user_error(tmp_path, content, message):
    with pytest.raises(UserError, match=message):
        read_labels(write_json(tmp_path / "labels.json", content))


def test_csv_with_header_and_class_names(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("filename,label,patient\nb.png,tumour,p2\na.png,normal,p1\n\nc.png,tumour,p1\n")
    table = read_labels(path)
    assert table.class_names == ["normal", "tumour"]  # numbered in sorted order
    assert [(r.filename, r.label, r.patient) for r in table.records] == [
        ("b.png", 1, "p2"), ("a.png", 0, "p1"), ("c.png", 1, "p1")]


def test_csv_without_header_integer_labels_and_diagnosis(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("1a.jpeg,1,1,PTC\n3c.jpeg,0,3,FA\n")
    table = read_labels(path)
    assert table.records == [LabelRecord("1a.jpeg", 1, "1", "PTC"), LabelRecord("3c.jpeg", 0, "3", "FA")]
    assert table.class_names is None


def test_csv_header_may_reorder_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("filename,patient,label\nx.png,9,2\n")
    assert read_labels(path).records == [LabelRecord("x.png", 2, "9")]


def test_csv_missing_label_is_a_user_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("a.png,1\nb.png\n")
    with pytest.raises(UserError, match="filename and a label"):
        read_labels(path)


def test_class_sub_folders(tmp_path):
    for rel in ["tumour/t1.png", "normal/n1.jpeg", "normal/deep/n2.png", "normal/readme.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    table = read_labels(tmp_path)
    assert table.class_names == ["normal", "tumour"]
    assert [(r.filename, r.label) for r in table.records] == [
        ("normal/deep/n2.png", 0), ("normal/n1.jpeg", 0), ("tumour/t1.png", 1)]


def test_unknown_kind_and_missing_file(tmp_path):
    (tmp_path / "labels.txt").write_text("")
    with pytest.raises(UserError, match="expected a .json or .csv"):
        read_labels(tmp_path / "labels.txt")
    with pytest.raises(UserError, match="no such labels file"):
        read_labels(tmp_path / "nope.json")


def test_find_by_path_then_unambiguous_base_name():
    table = LabelTable([LabelRecord("PTC/1a.jpeg", 1), LabelRecord("FA/2a.jpeg", 0),
                        LabelRecord("x/3a.png", 0), LabelRecord("y/3a.png", 1)])
    assert table.find("PTC/1a.jpeg").label == 1
    assert table.find("elsewhere/2a.jpeg").filename == "FA/2a.jpeg"
    assert table.find("3a.png") is None  # two records share that base name
    assert table.find("y/3a.png").label == 1


def test_dataset_json_round_trip(tmp_path):
    records = [LabelRecord("1a_0.jpeg", 0, "1", "FA"), LabelRecord("1a_1.jpeg", 0, "1", "FA"),
               LabelRecord("2a_0.jpeg", 1, "2", None)]
    path = write_dataset_json(tmp_path / "dataset.json", records, ["Non-PTC-like", "PTC-like"])
    content = json.loads(path.read_text())
    assert content["labels"] == [["1a_0.jpeg", 0], ["1a_1.jpeg", 0], ["2a_0.jpeg", 1]]  # the reference format
    assert content["meta"][2] == ["2a_0.jpeg", 1, "2", None]
    table = read_labels(path)
    assert table.records == records and table.class_names == ["Non-PTC-like", "PTC-like"]


def test_dataset_json_unlabelled_and_without_patients():
    assert dataset_json([LabelRecord("a.png", None, "0", "ihc")])["labels"] is None
    assert "meta" not in dataset_json([LabelRecord("a.png", 3)])


def test_diagnosis_class_names():
    from thygan.data.labels import diagnosis_class_names

    assert diagnosis_class_names([(0, "PTC"), (1, "FA"), (0, "PTC")]) == ["PTC", "FA"]
    binary = [(0, "FTC"), (0, "FA"), (0, "FA"), (1, "PTC"), (1, "NIFTP"), (1, "FVPTC"), (1, "PTC"), (1, "NIFTP"),
              (1, "PTC")]
    assert diagnosis_class_names(binary) == ["FA+FTC", "PTC+NIFTP+FVPTC"]  # most frequent first
    assert diagnosis_class_names([(0, "PTC"), (2, "FA")]) is None  # class 1 has no diagnosis
    assert diagnosis_class_names([(0, "PTC"), (1, None)]) is None
    assert diagnosis_class_names([]) is None
    assert diagnosis_class_names([(0, "B"), (0, "A")]) == ["A+B"]  # equally frequent: by name


def test_null_labels_are_unlabelled_where_allowed_and_refused_where_required(tmp_path):
    # what sample-tiles --ihc writes: "labels": null, the null label again in every meta row
    records = [LabelRecord("ihc_0.png", None, "7", "ihc"), LabelRecord("ihc_1.png", None, "7", "ihc")]
    path = write_dataset_json(tmp_path / "dataset.json", records)
    assert json.loads(path.read_text())["labels"] is None
    assert read_labels(path, allow_unlabelled=True).records == records
    with pytest.raises(UserError, match=r"dataset\.json: its labels are null") as error:
        read_labels(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    # a hand-written 'labels' list with null entries reads alike
    listed = write_json(tmp_path / "listed.json", {"labels": [["a.png", None], ["b.png", 1]]})
    assert [r.label for r in read_labels(listed, allow_unlabelled=True).records] == [None, 1]
    with pytest.raises(UserError, match=r"listed\.json: its labels are null"):
        read_labels(listed)
    with pytest.raises(UserError, match="expected an integer class label"):  # not null, still checked
        read_labels(write_json(tmp_path / "bad.json", {"labels": [["a.png", "x"]]}), allow_unlabelled=True)
