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
