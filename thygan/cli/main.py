"""The `thygan` console command: one sub-command per module in thygan/cli/."""

import click

from thygan import __version__
from thygan.cli.command import LazyGroup

# name -> "module:command object"; each root script (generate.py, train.py, ...) runs the same object.
COMMANDS = {
    "demo": "thygan.cli.demo:demo_command",
    "pipeline": "thygan.cli.pipeline:pipeline_command",
    "train": "thygan.cli.train:train_command",
    "generate": "thygan.cli.generate:generate_command",
    "convert": "thygan.cli.convert:convert_command",
    "summary": "thygan.cli.summary:summary_command",
    "dataset-tool": "thygan.cli.dataset_tool:dataset_tool_command",
    "split-dataset": "thygan.cli.split_dataset:split_dataset_command",
    "splits": "thygan.cli.splits:splits_command",
    "sample-tiles": "thygan.cli.sample_tiles:sample_tiles_command",
    "export-geojson": "thygan.cli.export_geojson:export_geojson_command",
    "metrics": "thygan.cli.metrics:metrics_command",
    "domain-gap": "thygan.cli.domain_gap:domain_gap_command",
    "dlc-train": "thygan.cli.dlc_train:dlc_train_command",
    "dlc-eval": "thygan.cli.dlc_eval:dlc_eval_command",
    "dlc-cv": "thygan.cli.dlc_cv:dlc_cv_command",
    "segment": "thygan.cli.segment:segment_command",
    "segment-cv": "thygan.cli.segment_cv:segment_cv_command",
    "translate": "thygan.cli.translate:translate_command",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="thygan")
def cli() -> None:
    """thygan: StyleGAN2-ADA for pathology, from tiles to a measured domain gap."""
