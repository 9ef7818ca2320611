"""`thygan summary`: parameter counts of a network file or of a training configuration."""

import click

from thygan.cli.command import Command
from thygan.errors import UserError


@click.command(cls=Command, name="summary")
@click.option("--network", "network_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="Checkpoint (.safetensors/.json) or reference .pkl to summarise.")
@click.option("--cfg", metavar="NAME", default="auto", show_default=True,
              help="Training preset to summarise when no --network is given (auto, paper512, cpu32, ...).")
@click.option("--resolution", metavar="INT", type=click.IntRange(min=8), default=512, show_default=True,
              help="Image resolution for --cfg (a power of two).")
@click.option("--c-dim", "c_dim", metavar="INT", type=click.IntRange(min=0), default=0, show_default=True,
              help="Number of classes for --cfg (0 = unconditional).")
@click.option("--gpus", metavar="INT", type=click.IntRange(min=1), default=1, show_default=True,
              help="GPU count for the auto preset's formulas.")
@click.option("--depth", metavar="INT", type=click.IntRange(min=1, max=4), default=1, show_default=True,
              help="How many levels of sub-modules to list.")
def summary_command(network_path, cfg, resolution, c_dim, gpus, depth):
    """Print a table of parameter counts for G and D."""
    from thygan.io.network_file import load_network_file
    from thygan.stylegan.networks import NETWORKS
    from thygan.stylegan.summary import format_parameter_table

    if network_path:
        networks = load_network_file(network_path, registry=NETWORKS).networks
    else:
        networks = _networks_from_preset(cfg, resolution, c_dim, gpus)
    click.echo(format_parameter_table(networks, depth=depth), nl=False)


def _networks_from_preset(cfg: str, resolution: int, c_dim: int, gpus: int) -> dict:
    from thygan.stylegan.networks import Discriminator, Generator
    from thygan.stylegan.presets import PRESETS, network_kwargs, resolve_preset

    if cfg not in PRESETS:
        raise UserError(f"--cfg: unknown preset '{cfg}' (expected one of {', '.join(PRESETS.names())})")
    if resolution & (resolution - 1):
        raise UserError(f"--resolution: {resolution} is not a power of two")
    preset = resolve_preset(cfg, resolution=resolution, gpus=gpus)
    G_kwargs, D_kwargs = network_kwargs(preset, resolution=resolution, c_dim=c_dim)
    return {"G": Generator(**G_kwargs), "D": Discriminator(**D_kwargs)}
