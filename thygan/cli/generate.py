"""`generate.py` / `thygan generate`: images from a trained network (reference flags, plus batching,
several classes and grids). Output names follow the reference: `seed0000.png`, `proj00.png`."""

import click

from thygan.cli.command import Command
from thygan.errors import UserError


@click.command(cls=Command, name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--network", "network_path", required=True, metavar="PATH",
              help="Network: a thygan checkpoint (.safetensors/.json) or a reference network-snapshot .pkl.")
@click.option("--seeds", metavar="LIST", help="Seeds: inclusive ranges and lists, e.g. 0-200 or 1,5,9-12.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, show_default=True, metavar="PSI",
              help="Truncation psi (1 = none; smaller = closer to the average image).")
@click.option("--class", "class_spec", metavar="CLASS",
              help="Class index or name, a comma list, or 'all' (one sub-folder per class). "
                   "Required for conditional networks.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const", show_default=True,
              help="Per-pixel noise: the network's fixed noise, fresh noise per seed, or none.")
@click.option("--projected-w", metavar="NPZ", type=click.Path(dir_okay=False),
              help="Generate from projected W (npz key 'w' [N, num_ws, w_dim]) instead of seeds.")
@click.option("--outdir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Where to save the images.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=8, show_default=True, metavar="INT",
              help="Images per forward pass; results do not depend on it.")
@click.option("--grid", "grid", is_flag=True,
              help="Write one grid.png (rows = classes, columns = seeds) instead of one file per image.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run; auto = cuda when available.")
@click.option("--overwrite", is_flag=True,
              help="Replace images from an earlier run with other options (default: refuse; same options resume).")
def generate_command(network_path, seeds, truncation_psi, class_spec, noise_mode, projected_w, outdir,
                     batch_size, grid, device, overwrite):
    """Generate images using a pretrained network.

    \b
    Examples:
      python generate.py --network=run/network-snapshot-000400.safetensors --seeds=0-200 --class=0 --outdir=out
      thygan generate --network=old/network-snapshot-017539.pkl --seeds=0-7 --class=all --grid --outdir=out
    """
    from thygan.stylegan.generate_job import GenerateJob, run_generate_job

    job = GenerateJob(network_path=network_path, seeds=seeds, truncation_psi=truncation_psi,
                      class_spec=class_spec, noise_mode=noise_mode, projected_w=projected_w, outdir=outdir,
                      batch_size=batch_size, grid=grid, device=device, overwrite=overwrite)
    if seeds is None and projected_w is None:
        raise UserError("--seeds option is required when not using --projected-w")
    run_generate_job(job)
