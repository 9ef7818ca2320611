"""`thygan pipeline`: the whole workflow described in one file, run step by step, resumable."""

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="pipeline", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True, metavar="FILE",
              help="Pipeline file (.yaml or .json), e.g. data/pipelines/thyroid.yaml.")
@click.option("--outdir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Where results go (overrides the file's 'outdir').")
@click.option("--only", default=None, metavar="STEPS",
              help="Comma list of steps to run (tiles, external-tiles, splits, gan-data, gan-train, gan-fid, "
                   "gan-grid, classifier, pseudo-labels, masks-train, masks-run, masks-eval, translate-train, "
                   "translate-run, translate-eval, segment-cv, segment-train, segment-infer, segment-compare, "
                   "domain-gap, report); the others hand on what they produced before.")
@click.option("-n", "--dry-run", is_flag=True, help="Print every step's command and stop; run nothing.")
def pipeline_command(config_path, outdir, only, dry_run):
    """Tiles, splits, GAN, classifier, translation, segmentation, domain gap and REPORT.md.

    Each step is a thygan command, printed before it runs; a re-run reuses finished steps and
    continues interrupted ones. Example:

    \b
        thygan pipeline --config=data/pipelines/thyroid.yaml --dry-run
    """
    from thygan.pipeline.config import load_config
    from thygan.pipeline.runner import run_pipeline

    config = load_config(config_path)
    if outdir is not None:
        config.outdir = outdir
    steps = [name.strip() for name in only.split(",") if name.strip()] if only else None
    run_pipeline(config, only=steps, dry_run=dry_run)
