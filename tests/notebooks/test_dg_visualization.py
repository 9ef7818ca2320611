"""notebooks/DG_Visualization.ipynb runs headless on the bundled sample and shows the table and plots."""

from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

from thygan.cli.sample_tiles import sample_tiles_command

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "DG_Visualization.ipynb"
SAMPLE = REPO / "data" / "sample"


def sample_tiles(*args: str) -> None:
    result = CliRunner().invoke(sample_tiles_command, list(args))
    assert result.exit_code == 0, result.output


def with_parameters(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """Insert ``source`` after the cell tagged 'parameters' (papermill's convention)."""
    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.mark.slow
def test_notebook_runs_on_the_sample(tmp_path):
    he, ihc = tmp_path / "he10", tmp_path / "ihc"
    sample_tiles(f"--slide={SAMPLE / 'CMU-1-Small-Region.svs'}",
                 f"--annotations={SAMPLE / 'annotations.geojson'}", "--tile=64", "--magnification=10",
                 f"--dest={he}")
    sample_tiles("--ihc", "--tile=64", "--stride=32", f"--dest={ihc}")
    nb = with_parameters(nbformat.read(NOTEBOOK, as_version=4), "\n".join([
        f"SETS = ['H&E={he}', 'IHC={ihc}:max=120']",
        "UNIONS = []",
        "EXTRACTOR = 'colour-histogram'",
        f"OUTDIR = {str(tmp_path / 'out')!r}",
        "UMAP_EPOCHS = 50",
    ]))
    client = NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    markdown = [out.data["text/markdown"] for out in outputs if "text/markdown" in out.get("data", {})]
    assert any("| H&E | IHC | all | 245 | 120 |" in text for text in markdown)
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 3  # heatmap, UMAP 2-D and 3-D
    assert (tmp_path / "out" / "umap_3d.html").is_file() and (tmp_path / "out" / "gap.csv").is_file()
