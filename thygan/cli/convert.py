"""`thygan convert`: a reference network-snapshot .pkl -> a thygan checkpoint, without running the pickle."""

from pathlib import Path

import click

from thygan.cli.command import Command
from thygan.errors import UserError


@click.command(cls=Command, name="convert", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", metavar="SNAPSHOT.pkl", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dest", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, default=False, show_default=True,
              help="Replace OUT.safetensors / OUT.json if they exist (default: refuse).")
@click.option("-n", "--dry-run", is_flag=True, default=False, show_default=True,
              help="Read and check the snapshot, print what it holds, write nothing.")
def convert_command(source: Path, dest: Path, overwrite: bool, dry_run: bool) -> None:
    """Convert a StyleGAN2-ADA network snapshot (SNAPSHOT.pkl) into OUT.safetensors + OUT.json.

    The pickle is read with an allowlist: the Python source embedded in it is never run, and a file
    asking for anything beyond tensors and network records is refused. G, D and G_ema are rebuilt with
    thygan's networks and checked key by key; the ADA state (augment_pipe p and filter banks) is kept.
    A .safetensors or .json suffix on OUT is dropped.

    \b
    Examples:
      thygan convert network-snapshot-000400.pkl runs/old/network-snapshot-000400
      thygan convert --dry-run downloaded.pkl unused
    """
    from thygan.io.checkpoint import checkpoint_paths
    from thygan.io.reference_pickle import convert_reference_pickle, load_reference_pickle
    from thygan.stylegan.networks import NETWORKS

    if dest.suffix == ".pkl":
        raise UserError(f"OUT: {dest} ends in .pkl; expected a name for the new checkpoint "
                        f"(e.g. {dest.with_suffix('')})")
    outputs = checkpoint_paths(dest)
    if dry_run:
        click.echo("\n".join(describe(load_reference_pickle(source, registry=NETWORKS))))
        click.echo("dry run: nothing written")
        return
    for path in outputs:
        if path.exists() and not overwrite:
            raise UserError(f"OUT: {path} exists (pass --overwrite to replace it)")
    try:
        loaded, (weights, meta) = convert_reference_pickle(source, dest, registry=NETWORKS)
    except OSError as exc:
        raise UserError(f"OUT: cannot write {dest} ({exc})") from None
    click.echo("\n".join(describe(loaded)))
    click.echo(f"wrote     {weights} ({weights.stat().st_size / 2**20:.1f} MiB) and {meta}")


def describe(loaded) -> list[str]:
    """Aligned lines: source, networks with parameter counts, image geometry, kimg, ADA state."""
    nets = loaded.networks
    lines = [f"source    {loaded.weights_file}"]
    lines.append("networks  " + ", ".join(
        f"{name} ({type(net).__name__}, {sum(p.numel() for p in net.parameters()):,} params)"
        for name, net in nets.items()))
    kwargs = next((loaded.meta["networks"][k]["kwargs"] for k in ("G_ema", "G", "D") if k in nets), {})
    if "img_resolution" in kwargs:
        lines.append(f"images    {kwargs['img_resolution']}x{kwargs['img_resolution']}, "
                     f"{kwargs.get('img_channels', '?')} channels, c_dim {kwargs.get('c_dim', '?')}")
    kimg = loaded.meta.get("kimg")
    lines.append(f"kimg      {kimg} (from the file name)" if kimg is not None else "kimg      unknown")
    pipe = loaded.extra_tensors.get("augment_pipe")
    if pipe is not None:
        p = f" p={float(pipe['p']):.4f}" if "p" in pipe and pipe["p"].numel() == 1 else ""
        lines.append(f"augment   {loaded.meta['extra']['augment_pipe']['class']}{p} "
                     f"(buffers kept: {', '.join(pipe)})")
    return lines
