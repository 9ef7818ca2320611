"""thygan.gap computes and thygan.viz draws: nothing in the gap package imports viz (viz may import gap),
and the device choice comes from thygan.device only."""

import ast
from pathlib import Path

import thygan.gap


def imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every import in a file; name '' for ``import module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_gap_never_imports_viz_and_takes_the_device_from_thygan_device():
    sources = sorted(Path(thygan.gap.__file__).parent.glob("*.py"))
    assert len(sources) >= 7
    for path in sources:
        for module, name in imports(path):
            assert module.split(".")[:2] != ["thygan", "viz"], f"{path.name} imports {module}"
            assert name != "pick_device" or module == "thygan.device", f"{path.name}: pick_device from {module}"
