"""A clone of the repository alone must test green: no code or test may reach for the project's
shared reference folder (../shared, /work/shared); the fixtures it needs live under tests/data/."""

import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    path
    for folder in ["thygan", "torch_utils", "dnnlib", "tests"]
    for path in (REPO / folder).rglob("*.py")
    if path != Path(__file__).resolve()  # this file's examples are meant to be found
) + sorted(REPO.glob("*.py"))
# f-string pieces are their own tokens from Python 3.12 on.
STRING_TOKENS = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}

# A path into the shared folder: the bare component "shared" or a literal like "../shared/..." or
# "/work/shared". Prose that merely names the folder ("see shared/reference/x.md") is not a read.
SHARED_PATH = re.compile(r"""^(?:\.\./)*shared(?:/|$)|(?:^|/)\.\./shared\b|/work/shared\b""")


def shared_path_literals(source: str) -> list[str]:
    """The string literals of a Python source that point into the shared folder."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in STRING_TOKENS:
            text = token.string.lstrip("rRbBuUfF").strip("\"'")
            if SHARED_PATH.search(text.strip()):
                found.append(f"line {token.start[0]}: {token.string}")
    return found


@pytest.mark.parametrize(("source", "hit"), [
    ('GOLDEN = ROOT.parent / "shared" / "reference"', True),
    ('p = Path("../shared/reference/golden")', True),
    ('p = "/work/shared/reference/x.json"', True),
    ('"""Layout described in shared/reference/stylegan2_ada_pkl.md."""', False),
    ('# comment about ../shared', False),
    ('x = "shared_classes"', False),
    ('p = f"{root}/../shared/golden"', True),
])
def test_the_scan_finds_paths_into_shared(source, hit):
    assert bool(shared_path_literals(source)) is hit


def test_no_source_file_reads_the_shared_folder():
    assert len(SOURCES) > 50
    offenders = {str(p.relative_to(REPO)): hits for p in SOURCES if (hits := shared_path_literals(p.read_text()))}
    assert not offenders, f"paths into ../shared (copy the fixture into tests/data/ instead): {offenders}"


def test_golden_vectors_are_in_the_repository(golden_dir):
    assert golden_dir.is_relative_to(REPO)
    for name in ["README.md", "ops_golden.safetensors", "cond32_weights.safetensors",
                 "cond32_outputs.safetensors", "stylegan2_ada_keys.json"]:
        assert (golden_dir / name).is_file(), name
