"""claim_outputs: resume under the same settings, refuse outputs of other or unrecorded settings, and
--overwrite removes what marked inputs as done before recording the new settings."""

import json

import pytest

from thygan.errors import UserError
from thygan.runs.output_settings import RECORD_NAME, claim_outputs, same_settings


def _outputs(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_text("made")
    return paths


def test_a_new_folder_is_claimed_and_the_same_settings_resume(tmp_path):
    out = tmp_path / "out"
    claim_outputs(out, {"model": "a", "tile": (4, 4)}, done_markers=[], overwrite=False, flag="--out")
    assert json.loads((out / RECORD_NAME).read_text()) == {"model": "a", "tile": [4, 4]}
    done = _outputs(out, "1.png", "2.png")
    claim_outputs(out, {"model": "a", "tile": (4, 4)}, done_markers=done, overwrite=False, flag="--out")
    assert all(path.is_file() for path in done)


def test_other_settings_are_refused_naming_what_differs_and_nothing_changes(tmp_path):
    out = tmp_path / "out"
    claim_outputs(out, {"model": "a", "overlap": 8, "blend": "gaussian"}, done_markers=[], overwrite=False,
                  flag="--out")
    done = _outputs(out, "1.png")
    with pytest.raises(UserError) as error:
        claim_outputs(out, {"model": "b", "overlap": 8, "blend": "constant"}, done_markers=done, overwrite=False,
                      flag="--output-dir")
    message = str(error.value)
    assert message.startswith("--output-dir: ") and "1 output(s)" in message
    assert "another blend, model;" in message and "--overwrite" in message and "overlap" not in message
    assert done[0].is_file() and json.loads((out / RECORD_NAME).read_text())["model"] == "a"


def test_outputs_without_a_record_are_not_trusted(tmp_path):
    out = tmp_path / "out"
    done = _outputs(out, "1.png")
    with pytest.raises(UserError, match="unrecorded settings"):
        claim_outputs(out, {"model": "a"}, done_markers=done, overwrite=False, flag="--out")
    (out / RECORD_NAME).write_text("{not json")
    with pytest.raises(UserError, match="unrecorded settings"):
        claim_outputs(out, {"model": "a"}, done_markers=done, overwrite=False, flag="--out")


def test_overwrite_removes_the_done_markers_then_records(tmp_path):
    out = tmp_path / "out"
    claim_outputs(out, {"model": "a"}, done_markers=[], overwrite=False, flag="--out")
    done = _outputs(out, "1.png", "2.png")
    keep = _outputs(out, "notes.txt")[0]  # not an output of this command: left alone
    claim_outputs(out, {"model": "b"}, done_markers=done + [out / "3.png"], overwrite=True, flag="--out")
    assert not any(path.exists() for path in done) and keep.is_file()
    assert json.loads((out / RECORD_NAME).read_text()) == {"model": "b"}
    # an interrupted redo: what it made since resumes under the new record
    claim_outputs(out, {"model": "b"}, done_markers=_outputs(out, "1.png"), overwrite=False, flag="--out")


def test_same_settings_reads_the_record_as_claim_outputs_writes_it(tmp_path):
    out = tmp_path / "out"
    assert not same_settings(out, {"model": "a"})  # no record yet
    claim_outputs(out, {"model": "a", "tile": (4, 4)}, done_markers=[], overwrite=False, flag="--out")
    assert same_settings(out, {"model": "a", "tile": (4, 4)}) and not same_settings(out, {"model": "a", "tile": (8, 8)})
    (out / RECORD_NAME).write_text("{not json")
    assert not same_settings(out, {"model": "a", "tile": (4, 4)})
