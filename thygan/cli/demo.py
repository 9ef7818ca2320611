"""`thygan demo` (what `make demo` runs): the pipeline of data/pipelines/demo.yaml on the bundled sample."""

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--outdir", type=click.Path(file_okay=False), default="demo_out", show_default=True, metavar="DIR",
              help="Where every result goes; re-running reuses finished steps.")
@click.option("--tile", type=click.Choice(["32", "64"]), default="32", show_default=True,
              help="Tile size in pixels (64 px takes about 4x longer to train).")
@click.option("--kimg", type=click.IntRange(min=1), default=None, metavar="INT",
              help="GAN training length in thousands of images (default: the demo file's, 4).")
@click.option("-n", "--dry-run", is_flag=True, help="Print every step's command and stop; run nothing.")
def demo_command(outdir, tile, kimg, dry_run):
    """The whole workflow on the bundled real slide at CPU size, with a REPORT.md.

    Tiles, patient-grouped splits, a conditional GAN (FID, per-class FID, class grid), the
    classifier without and with synthetic images, nucleus pseudo-labels, pix2pix masks -> H&E,
    HoVer-Net without and with its pairs (segment-cv), CycleGAN IHC -> H&E with the raw and
    translated IHC tiles segmented and compared, and the domain gap. Every step's command is
    printed so it can be re-run at full size (data/pipelines/thyroid.yaml, ihc_to_he_hovernet.yaml,
    pannuke_pix2pix.yaml hold the studies').
    """
    from thygan.bundled import bundled_path
    from thygan.pipeline.config import load_config
    from thygan.pipeline.runner import run_pipeline

    config = load_config(bundled_path("pipelines", "demo.yaml"))
    config.outdir = outdir
    config.dataset.sample.tile = int(tile)
    config.gan.cfg = f"cpu{tile}"
    config.classifier.crop_size = int(tile)
    if kimg is not None:
        config.gan.kimg = kimg
    run_pipeline(config, dry_run=dry_run)
