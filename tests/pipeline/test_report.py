"""REPORT.md's GAN section: drawn from a real tiny run, every linked figure exists, the FID row is the network's."""

import re

from tests.viz.test_training_run import append, tiny_run  # noqa: F401 - the fixture
from thygan.pipeline.config import DatasetSection, GanSection, PipelineConfig, SampleSection
from thygan.pipeline.report import write_report
from thygan.pipeline.steps import PipelineContext


def test_gan_section_links_the_run_figures(tiny_run, tmp_path):  # noqa: F811 - pytest fixture
    append(tiny_run, "fid8_full_perclass", {"fid8_full_perclass_mean": 250.0, "fid8_full_perclass_a": 240.0}, 0)
    network = tiny_run / "network-snapshot-000000.safetensors"
    config = PipelineConfig(outdir=str(tmp_path / "out"), dataset=DatasetSection(sample=SampleSection()),
                            gan=GanSection(metrics="fid8_full_perclass", fid_metric=None), classifier=None)
    ctx = PipelineContext(config=config, outdir=tmp_path / "out", network=str(network),
                          produced={"gan-train": {"run_dir": str(tiny_run), "network": str(network),
                                                  "picked_by": "lowest fid8_full_perclass (250.00)"}})
    report = write_report(ctx)
    text = report.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {name.split("/")[-1] for name in images} >= {"reals_vs_fakes.png", "gan_training_curves.png",
                                                        "fid_over_kimg.png"}
    assert all((report.parent / link).is_file() for link in images)
    assert "| fid8_full_perclass_mean | 250.00 |" in text and "| fid8_full_perclass_a | 240.00 |" in text
    assert "lowest fid8_full_perclass (250.00)" in text


def _record(out, name, produced=None):
    from thygan.pipeline.runner import StepRecord, _write_record

    _write_record(out, StepRecord(name, ["x"], 1.0, produced or {}))


def _png(path, side=8, value=100):
    import numpy as np

    from thygan.io.images import save_png

    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(path, np.full((side, side, 3), value, np.uint8))


def test_translation_and_segmentation_sections_only_when_their_steps_ran(tmp_path):
    import json

    from thygan.pipeline.config import SegmentationSection, TranslationSection

    out = tmp_path / "out"
    config = PipelineConfig(outdir=str(out), gan=None, classifier=None,
                            translation=TranslationSection(domain_a="a", domain_b="b", translate="a", metrics="kid"),
                            segmentation=SegmentationSection(data="d", sets=["A=a", "B=b"]))
    out.mkdir()
    ctx = PipelineContext(config=config, outdir=out)
    text = write_report(ctx).read_text()
    assert "## Stain translation" not in text and "## Nucleus segmentation" not in text  # nothing ran yet

    run_dir = out / "translation" / "runs" / "00000-translation"
    _png(run_dir / "web" / "images" / "epoch001.png")
    _png(run_dir / "web" / "images" / "epoch002.png")
    (out / "translation" / "eval").mkdir(parents=True)
    (out / "translation" / "eval" / "summary.json").write_text(json.dumps({"images": 5, "kid5_full": 0.1234}))
    _png(out / "translation" / "eval" / "grid.png")
    for i in range(20):
        _png(out / "pseudo_labels" / "overlay" / f"t{i:02d}.png", value=10 * i)
    (out / "segmentation" / "compare").mkdir(parents=True)
    (out / "segmentation" / "compare" / "compare.md").write_text("# Compared\n\n| set | nuclei |\n|---|---|\n"
                                                                 "| A | 3 |\n")
    for name in ("compare.png", "examples.png"):
        _png(out / "segmentation" / "compare" / name)
    for name in ("translate-train", "translate-eval", "pseudo-labels", "segment-compare"):
        _record(out, name, {"run_dir": str(run_dir)} if name == "translate-train" else None)
    ctx = PipelineContext(config=config, outdir=out, produced={"translate-train": {"run_dir": str(run_dir)}})
    report = write_report(ctx)
    text = report.read_text()
    assert "## Stain translation" in text and "## Masks -> H&E" not in text and "## Nucleus segmentation" in text
    assert "| kid5_full | 0.1234 |" in text and "| A | 3 |" in text
    assert "**Compared**" in text and "# Compared" not in text  # the embedded file's heading keeps the outline
    assert "Recipes compared" not in text  # segment-cv did not run
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "translation/runs/00000-translation/web/images/epoch002.png" in links  # the last epoch's grid
    assert {"translation/eval/grid.png", "report/pseudo_labels.png", "segmentation/compare/compare.png",
            "segmentation/compare/examples.png"} <= set(links)
    assert all((report.parent / link).is_file() for link in links)
    # each figure comes with a line on how to read it, just before it
    lines = text.splitlines()
    for link in links:
        index = next(i for i, line in enumerate(lines) if f"]({link})" in line)
        assert lines[index - 2].strip(), link


def test_montage_holds_16_pseudo_label_tiles_enlarged(tmp_path):
    import numpy as np
    import PIL.Image

    from thygan.pipeline.report import _montage

    files = []
    for i in range(20):
        files.append(tmp_path / f"t{i:02d}.png")
        _png(files[-1], side=32, value=10 * i)
    out = _montage(files, tmp_path / "m.png")
    grid = np.asarray(PIL.Image.open(out))
    assert grid.shape == (2 * 96 + 2, 8 * 96 + 7 * 2, 3)  # 16 tiles of 32 px shown at 96 px, 2 px gutters
    assert grid[0, 0, 0] == 0 and grid[0, 98 + 5, 0] == 10 and grid[98 + 5, 98 * 7 + 5, 0] == 150
