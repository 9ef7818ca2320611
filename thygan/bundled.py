"""The files that come with thygan: the sample slide and its annotations, the pipeline files, the study's
recipes. In the repository they live in data/ at the root (where users and the README name them); a
wheel carries the same files as package data in thygan/_data (setup.py's build step copies them, so
git holds one copy). Code asks here rather than walking up from its own file."""

from importlib.resources import files
from pathlib import Path

import thygan


def bundled_dir() -> Path:
    """The folder holding the bundled files: thygan/_data in an installed wheel, else the data/ folder of
    the source checkout the package was imported from (an editable install or PYTHONPATH)."""
    packaged = Path(str(files(thygan) / "_data"))
    if packaged.is_dir():
        return packaged
    checkout = Path(thygan.__file__).resolve().parent.parent / "data"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"thygan's bundled data is missing: neither {packaged} nor {checkout} exists "
                            "(reinstall thygan)")


def bundled_path(*parts: str) -> Path:
    """A bundled file, e.g. ``bundled_path("pipelines", "demo.yaml")``."""
    return bundled_dir().joinpath(*parts)
