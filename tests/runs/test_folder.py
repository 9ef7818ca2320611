"""Run folders and records: numbering, options, logs, metric-<name>.jsonl."""

import json

import pytest

from thygan.errors import UserError
from thygan.runs import (
    RunLog,
    append_metric_record,
    metric_files,
    new_run_dir,
    numbered_runs,
    read_jsonl,
    read_metric_records,
    read_options,
    write_options,
)


def test_numbering_options_and_log(tmp_path):
    first = new_run_dir(tmp_path, "cv0_mc100", digits=3)
    second = new_run_dir(tmp_path, "other")
    (tmp_path / "notes").mkdir()
    assert (first.name, second.name) == ("000-cv0_mc100", "00001-other")
    assert numbered_runs(tmp_path) == [first, second] and numbered_runs(tmp_path, "other") == [second]
    write_options(first, {"lr": 0.001, "model": "resnet50"})
    assert read_options(first) == {"lr": 0.001, "model": "resnet50"}
    (second / "options.json").write_text("[1]")
    with pytest.raises(UserError, match="options.json: expected a JSON object"):
        read_options(second)
    shown = []
    log = RunLog(first / "log.txt", echo=shown.append)
    log.append("header")
    log("epoch 1")
    RunLog(first / "log.txt", enabled=False, echo=shown.append)("rank 1")
    assert shown == ["epoch 1"] and (first / "log.txt").read_text() == "header\nepoch 1\n"


def test_metric_records_append_and_read(tmp_path):
    assert read_metric_records(tmp_path, "fid50k_full") == []
    for kimg in (0, 4):
        append_metric_record(tmp_path, {"metric": "fid50k_full", "results": {"fid50k_full": 10.0 - kimg},
                                        "snapshot_pkl": f"network-snapshot-{kimg:06d}.safetensors"})
    append_metric_record(tmp_path, {"metric": "is50k", "results": {"is50k_mean": 2.0}})
    assert [p.name for p in metric_files(tmp_path)] == ["metric-fid50k_full.jsonl", "metric-is50k.jsonl"]
    records = read_metric_records(tmp_path, "fid50k_full")
    assert [r["results"]["fid50k_full"] for r in records] == [10.0, 6.0]
    path = tmp_path / "metric-fid50k_full.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == records


def test_read_jsonl_skips_only_a_last_line_being_written(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    path.write_text('{"a": 1}\n{"c": \n{"b": 2}\n')
    with pytest.raises(UserError, match="stats.jsonl line 2: not valid JSON"):
        read_jsonl(path)
