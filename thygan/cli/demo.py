"""`thygan demo` (what `make demo` runs): the workflow end to end on the bundled real sample."""

from pathlib import Path

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--outdir", type=click.Path(file_okay=False), default="demo_out", show_default=True, metavar="DIR",
              help="Where every result goes; re-running reuses finished steps.")
@click.option("--tile", type=click.Choice(["32", "64"]), default="32", show_default=True,
              help="Tile size in pixels (64 px takes about 4x longer to train).")
@click.option("--kimg", type=click.IntRange(min=1), default=4, show_default=True, metavar="INT",
              help="GAN training length in thousands of images.")
def demo_command(outdir, tile, kimg):
    """Tile the bundled slide, train a conditional GAN on CPU, and generate a class grid.

    Every step's command is printed so it can be re-run at full size.
    """
    from thygan.demo import DemoOptions, run_demo

    run_demo(DemoOptions(outdir=Path(outdir), tile=int(tile), kimg=kimg, cfg=f"cpu{tile}"))
