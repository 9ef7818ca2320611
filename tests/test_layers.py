"""Imports point down: every module of dnnlib, torch_utils and thygan imports only from its own package
or from a lower layer. Read with ``ast``, so function-level imports count as much as top-level ones.

``LAYERS`` is the order of the README's Architecture section, lowest first. Packages in one row are
siblings: they do not import each other unless ``SIBLING_IMPORTS`` allows it, with a reason. A
package missing from ``LAYERS`` fails the test until it is given a place.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("dnnlib", "torch_utils", "thygan")

LAYERS = [
    ["dnnlib"],                                       # generic, no torch: EasyDict, ranges, registry, run dirs
    ["torch_utils"],                                  # torch-generic: ops, distributed, seeding, stats
    ["thygan"],                                       # the package root: its version only
    ["thygan.errors"],                                # UserError
    ["thygan.device", "thygan.progress", "thygan.bundled"],  # device choice, progress bars, bundled files
    ["thygan.io"],                                    # files: checkpoints, reference .pkl, images, digests
    ["thygan.runs"],                                  # run folders
    ["thygan.data"],                                  # datasets, labels, splits, tiling
    ["thygan.metrics"],                               # image-quality metrics
    ["thygan.stylegan", "thygan.translate", "thygan.segment"],  # models: networks, training, sampling, prediction
    ["thygan.sources"],                               # synthetic sources (recipes) drawn from those models
    ["thygan.classify", "thygan.segment.synthetic", "thygan.segment.training_loop",   # training on sources
     "thygan.segment.cv"],
    ["thygan.gap"],                                   # domain-gap analysis (a classifier can be its extractor)
    ["thygan.viz"],                                   # drawing
    ["thygan.pipeline"],                              # the workflow over the commands
    ["thygan.cli"],                                   # click commands
    ["thygan.__main__"],                              # python -m thygan
]

# (importer, imported): a same-row import allowed, with its reason.
SIBLING_IMPORTS: dict[tuple[str, str], str] = {
    ("thygan.segment.training_loop", "thygan.segment.synthetic"):
        "the HoVer-Net loop appends a segmentation recipe's pairs to its real samples",
    ("thygan.segment.cv", "thygan.segment.training_loop"): "segment-cv trains one HoVer-Net per fold and recipe",
    ("thygan.segment.cv", "thygan.segment.synthetic"): "segment-cv checks every recipe before the first training",
}

# Third-party limits of the bottom layers, as STYLE.md states them.
FORBIDDEN_THIRD_PARTY = {"dnnlib": {"torch"}}

RANK = {package: rank for rank, row in enumerate(LAYERS) for package in row}


def package_of(module: str) -> str:
    """The layer unit of a module: itself when LAYERS lists it, else ``thygan.<sub>`` (sub-package or
    top-level module), else its root."""
    parts = module.split(".")
    for depth in range(len(parts), 2, -1):  # a module given its own place in LAYERS (segment's training)
        if ".".join(parts[:depth]) in RANK:
            return ".".join(parts[:depth])
    return ".".join(parts[:2]) if parts[0] == "thygan" and len(parts) > 1 else parts[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            # `from thygan import runs` imports the sub-package thygan.runs; `from thygan import __version__` thygan
            found += [(node.lineno, f"{name}.{alias.name}" if _is_module(root, name, alias.name) else name)
                      for alias in node.names]
    return found


def _is_module(root: Path, package: str, name: str) -> bool:
    folder = root.joinpath(*package.split("."))
    return (folder / name).is_dir() or (folder / f"{name}.py").is_file()


def source_files() -> list[Path]:
    return sorted(path for root in ROOTS for path in (REPO / root).rglob("*.py") if "_data" not in path.parts)


def upward_imports(files: list[Path], root: Path = REPO) -> list[str]:
    """One message per import that points up (or sideways without an allowance), naming file and line."""
    problems = []
    for path in files:
        importer = package_of(module_name(path, root))
        for line, name in imported_modules(path, root):
            top = name.split(".")[0]
            where = f"{path.relative_to(root)}:{line}: {importer} imports {name}"
            if top in FORBIDDEN_THIRD_PARTY.get(importer, ()):
                problems.append(f"{where} ({importer} must not use {top})")
            if top not in ROOTS:
                continue
            imported = package_of(name)
            if imported == importer:
                continue
            if importer not in RANK or imported not in RANK:
                problems.append(f"{where} ({(importer if importer not in RANK else imported)} has no layer: add it "
                                f"to LAYERS in tests/test_layers.py and the README's Architecture section)")
            elif RANK[imported] > RANK[importer]:
                problems.append(f"{where} (an upward import: {imported} sits above {importer})")
            elif RANK[imported] == RANK[importer] and (importer, imported) not in SIBLING_IMPORTS:
                problems.append(f"{where} (siblings in one layer; allow it in SIBLING_IMPORTS with a reason, "
                                f"or move one of them)")
    return problems


def test_every_import_points_down():
    problems = upward_imports(source_files())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_every_package_has_a_layer():
    packages = {package_of(module_name(path, REPO)) for path in source_files()}
    assert sorted(packages - set(RANK)) == []


def plant(root: Path, files: dict[str, str]) -> list[Path]:
    for name, code in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(code)
    return sorted(root / name for name in files)


@pytest.mark.parametrize("code,expected", [
    ("def f():\n    from thygan.cli.main import cli\n", "thygan/io/x.py:2: thygan.io imports thygan.cli.main "
                                                          "(an upward import: thygan.cli sits above thygan.io)"),
    ("from thygan import stylegan\n", "thygan/io/x.py:1: thygan.io imports thygan.stylegan"),
    ("from ..stylegan import networks\n", "thygan/io/x.py:1: thygan.io imports thygan.stylegan"),
    ("import thygan.translate.networks as n\n", "thygan/io/x.py:1: thygan.io imports thygan.translate.networks"),
])
def test_an_upward_import_is_named_with_file_and_line(tmp_path, code, expected):
    """The checker itself: a planted upward import (in a function, relative, aliased) is caught."""
    files = plant(tmp_path, {"thygan/io/x.py": code, "thygan/stylegan/__init__.py": ""})
    problems = upward_imports(files, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_downward_imports_pass_siblings_and_third_party_limits_fail(tmp_path):
    files = plant(tmp_path, {"thygan/classify/ok.py": "from thygan.sources.recipe import read_recipe\nimport torch\n",
                             "thygan/classify/side.py": "from thygan.segment.synthetic import check_recipe\n",
                             "dnnlib/heavy.py": "import torch\n"})
    problems = upward_imports(files, tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("dnnlib/heavy.py:1: dnnlib imports torch (dnnlib must not use torch)")
    assert problems[1].startswith("thygan/classify/side.py:1: thygan.classify imports "
                                  "thygan.segment.synthetic (siblings")
