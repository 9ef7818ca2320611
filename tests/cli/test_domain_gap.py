"""`thygan domain-gap`: a run on two colour domains, the dry run, and the bad-input paths."""

import pytest
from click.testing import CliRunner

from tests.gap.conftest import coloured_images, write_folder
from thygan.cli.domain_gap import domain_gap_command


@pytest.fixture
def folders(tmp_path):
    red = write_folder(tmp_path / "red", coloured_images(12, colour=(200, 60, 60), seed=1),
                       labels=[0] * 6 + [1] * 6, class_names=["tumour", "stroma"])
    blue = write_folder(tmp_path / "blue", coloured_images(10, colour=(60, 60, 200), seed=2))
    return red, blue


def run(args):
    return CliRunner().invoke(domain_gap_command, [str(a) for a in args])


def test_run_writes_tables_and_heatmap(folders, tmp_path):
    red, blue = folders
    out = tmp_path / "out"
    result = run(["--set", f"H&E={red}", "--set", f"IHC={blue}:color=green",
                  "--extractor", "colour-histogram", "--no-umap", "--outdir", out])
    assert result.exit_code == 0, result.output
    assert "| H&E | IHC | all | 12 | 10 |" in result.output
    written = {p.name for p in out.iterdir()}
    assert written == {"options.json", "gap.csv", "gap.md", "gap_heatmap.png", "embeddings"}
    assert (out / "gap.md").read_text().count("\n") == 3  # header, rule, one pair (IHC has no classes)


def test_dry_run_lists_sets_and_writes_nothing(folders, tmp_path):
    red, blue = folders
    result = run(["--set", f"a={red}", "--set", f"b={blue}:max=4", "--outdir", tmp_path / "out", "-n"])
    assert result.exit_code == 0, result.output
    assert "a: 12 images, classes: stroma, tumour" in result.output
    assert "b: 4 images, classes: unlabelled" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--set", "b=/no/such/folder"], "--set b: no such folder"),
    ([], "--set: give at least two image sets"),
    (["--set", "b"], "--set: expected NAME=SOURCE"),
    (["--set", "b={blue}", "--union", "ab"], "--union: expected NAME=SET,SET"),
    (["--set", "b={blue}", "--union", "ab=a,c"], "--union ab: expected two or more"),
    (["--set", "b={blue}:color=nocolour"], "color=nocolour"),
    (["--set", "b={blue}", "--extractor", "nope"], "--extractor"),
    (["--set", "b={blue}", "--extractor", "pixels", "--weights", "{blue}/img0000.png"], "takes no weights"),
])
def test_bad_input_is_one_line_and_exit_2(folders, tmp_path, extra, message):
    red, blue = folders
    args = ["--set", f"a={red}", "--outdir", tmp_path / "out"] + [str(a).format(blue=blue) for a in extra]
    result = run(args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
