"""`calc_metrics.py` / `thygan metrics`: FID, KID, precision/recall and IS of a network against its
dataset (the reference's flags), or of one image folder against another (--real/--fake)."""

import click

from thygan.cli.command import Command
from thygan.cli.detector_options import detector_options


@click.command(cls=Command, name="metrics", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--network", metavar="PATH",
              help="Network: a thygan checkpoint (.safetensors/.json) or a reference network-snapshot .pkl.")
@click.option("--metrics", default="fid50k_full", show_default=True, metavar="LIST",
              help="Comma list: fid50k_full, kid50k_full, pr50k3_full, is50k, or any count such as "
                   "fid2k_full, kid1k_full, pr5k3_full, is10k; add _perclass to fid/kid for per-class "
                   "scores.")
@click.option("--data", metavar="PATH",
              help="Real dataset (folder or zip) [default: the one in the network file].")
@click.option("--mirror", type=bool, metavar="BOOL",
              help="Mirrored dataset: the legacy metrics (no _full) add the mirrored reals; *_full and "
                   "is<N> never do, as in the reference [default: as in the network file].")
@click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, metavar="INT",
              help="Number of processes (only 1 is supported).")
@click.option("--verbose", type=bool, default=True, show_default=True, metavar="BOOL",
              help="Show progress bars.")
@click.option("--real", metavar="DIR", type=click.Path(),
              help="Folder mode: real images (folder or zip, any sizes); with --fake, instead of --network.")
@click.option("--fake", metavar="DIR", type=click.Path(),
              help="Folder mode: generated or translated images (e.g. CycleGAN/pix2pix outputs).")
@click.option("--outdir", metavar="DIR", type=click.Path(file_okay=False),
              help="Where metric-<name>.jsonl is appended [default: beside the network; folder mode: "
                   "print only].")
@click.option("--vgg16", metavar="PATH", type=click.Path(dir_okay=False),
              help="VGG16 weights (torchvision state dict) for precision/recall [default: $THYGAN_VGG16].")
@click.option("--cache-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Cache of real-set statistics [default: $THYGAN_CACHE, else ~/.cache/thygan/metrics].")
@detector_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Seed of the first generated image (image k uses seed+k) and of the label draws.")
@click.option("-n", "--dry-run", is_flag=True, help="Check the inputs and print the plan without computing.")
def metrics_command(network, metrics, data, mirror, gpus, verbose, real, fake, outdir, detector, vgg16,
                    cache_dir, batch_size, device, seed, dry_run):
    """Calculate quality metrics of a network or of an image folder.

    \b
    Examples:
      python calc_metrics.py --network=run/network-snapshot-000400.safetensors --metrics=fid2k_full,kid2k_full
      thygan metrics --network=old/network-snapshot-017539.pkl --data=tiles.zip --mirror=1
      thygan metrics --real=tiles/ --fake=cyclegan_out/ --metrics=fid1k_full --outdir=scores/
    """
    from thygan.metrics.calc_job import CalcJob, run_calc_job
    from thygan.stylegan import networks  # noqa: F401 - registers the classes a --network file names

    run_calc_job(CalcJob(metrics=metrics, network=network, data=data, mirror=mirror, gpus=gpus,
                         verbose=verbose, real=real, fake=fake, outdir=outdir, detector=detector,
                         vgg16=vgg16, cache_dir=cache_dir, batch_size=batch_size, device=device, seed=seed,
                         dry_run=dry_run))
