"""A non-editable install works away from the checkout: the wheel carries the sample slide and the pipeline
files, `thygan demo` finds them from any folder, and `python -m thygan` is the command.

The wheel is built offline from a copy of the sources (no build isolation, no index) and installed
without its dependencies into a fresh venv that borrows this venv's packages through a .pth line
(a path added that way is not scanned for .pth files, so the checkout's editable hook stays out)."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["thygan", "dnnlib", "torch_utils", "data", "setup.py", "setup.cfg", "pyproject.toml", "README.md",
           "MANIFEST.in"]


def _run(args: list, *, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the thygan wheel installed in it; returns the venv folder."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "src"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "tiles*", "splits")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=skip)
        else:
            shutil.copy2(path, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", tmp / "wheel", source], cwd=tmp)
    (wheel,) = (tmp / "wheel").glob("thygan-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    venv_python = venv / "bin" / "python"
    site = _run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp)
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv_python, "install", "--quiet", "--no-deps", "--no-index",
          wheel], cwd=tmp)
    return venv


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return dict(env, NO_ALBUMENTATIONS_UPDATE="1")


@pytest.mark.slow
def test_installed_demo_finds_its_files_from_any_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([installed / "bin" / "python", "-c", "import thygan; print(thygan.__file__)"],
                 cwd=elsewhere, env=_clean_env())
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(installed) and not package.is_relative_to(REPO)

    result = _run([installed / "bin" / "thygan", "demo", "--dry-run", "--outdir", "x"], cwd=elsewhere,
                  env=_clean_env())
    slide = package / "_data" / "sample" / "CMU-1-Small-Region.svs"
    assert f"--slide={slide}" in result.stdout
    assert slide.stat().st_size == (REPO / "data" / "sample" / "CMU-1-Small-Region.svs").stat().st_size
    assert f"--annotations={package / '_data' / 'sample' / 'annotations.geojson'}" in result.stdout
    assert "thygan train" in result.stdout and "dry run" in result.stdout
    assert str(REPO) not in result.stdout
    assert not (elsewhere / "x").exists()  # a dry run writes nothing


@pytest.mark.slow
def test_python_dash_m_thygan_is_the_command(installed, tmp_path):
    result = _run([installed / "bin" / "python", "-m", "thygan", "--help"], cwd=tmp_path, env=_clean_env())
    assert result.stdout.startswith("Usage: thygan ")
    for command in ["demo", "train", "generate", "dlc-cv", "domain-gap"]:
        assert f"  {command} " in result.stdout
