"""Fixtures shared by every test folder."""

from pathlib import Path

import pytest

# The shared folder sits next to the repository root: <repo>/../shared/reference/golden.
GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder with the reference implementation's golden vectors (see its README.md)."""
    if not (GOLDEN_DIR / "ops_golden.safetensors").is_file():
        pytest.fail(f"golden vectors not found: expected {GOLDEN_DIR}/ops_golden.safetensors "
                    "(the shared folder must sit next to the repository root)")
    return GOLDEN_DIR
