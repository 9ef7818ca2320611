"""`thygan sample-tiles`: the IHC domain end to end and the bad-input paths."""

import json

from click.testing import CliRunner

from thygan.cli.sample_tiles import sample_tiles_command


def test_ihc_tiles(tmp_path):
    result = CliRunner().invoke(sample_tiles_command, ["--ihc", "--tile", "128", "--ihc-label", "0",
                                                       "--blocks", "1x2", "--dest", str(tmp_path / "ihc")])
    assert result.exit_code == 0, result.output
    content = json.loads((tmp_path / "ihc" / "dataset.json").read_text())
    assert len(content["labels"]) == 16 and {row[2] for row in content["meta"]} == {"0", "1"}
    # The study's four-item meta rows, unpacked as its scripts do (the bundled IHC array is no slide
    # file, so its tiles record no origins).
    assert all(len(row) == 4 for row in content["meta"])
    assert {diagnosis for fname, label, patient, diagnosis in content["meta"]} == {"ihc"}
    assert "origins" not in content


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    cases = [
        (["--dest", str(tmp_path / "a")], "--slide, --annotations"),
        (["--ihc", "--slide", "x.svs", "--dest", str(tmp_path / "b")], "--ihc"),
        (["--ihc", "--blocks", "3by2", "--dest", str(tmp_path / "c")], "--blocks"),
        (["--slide", str(tmp_path / "none.svs"), "--annotations", str(tmp_path / "none.geojson"),
          "--dest", str(tmp_path / "d")], "none.geojson"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(sample_tiles_command, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
