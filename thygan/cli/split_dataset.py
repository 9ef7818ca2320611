"""`split_dataset.py` / `thygan split-dataset`: the study's crops of labelled images or slides.

The study's flags (`--source`, `--labels`, `--dest`, `--crop_size`) give the study's crops; the
other flags add overlap, PNG output, a background filter and whole-slide resolution choices.
"""

import click

from thygan.cli.command import Command
from thygan.cli.option_group import with_options


def slide_resolution_options(function):
    """--level / --magnification / --mpp, shared by the commands that tile whole slides."""
    options = [
        click.option("--level", type=click.IntRange(min=0), metavar="INT",
                     help="Whole slides: pyramid level to tile (0 = full resolution)."),
        click.option("--magnification", type=click.FloatRange(min=0, min_open=True), metavar="X",
                     help="Whole slides: tile at this objective power, e.g. 10 for 10x."),
        click.option("--mpp", type=click.FloatRange(min=0, min_open=True), metavar="UM",
                     help="Whole slides: tile at this resolution in microns per pixel."),
    ]
    return with_options(function, options)


@click.command(cls=Command, name="split-dataset", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--source", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Folder of images or whole slides (searched recursively).")
@click.option("--labels", metavar="PATH", type=click.Path(),
              help="Labels: the study's JSON (labels/meta), a CSV filename,label[,patient[,diagnosis]] or "
                   "a folder of class sub-folders. Default: the class sub-folders of --source.")
@click.option("--dest", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Output folder for the crops and dataset.json (created if missing).")
@click.option("--crop_size", "--crop-size", "crop_size", type=click.IntRange(min=1), default=512,
              show_default=True, metavar="PX", help="Crop side in pixels.")
@click.option("--stride", type=click.IntRange(min=1), metavar="PX",
              help="Grid step in pixels; below --crop_size the crops overlap. Default: --crop_size.")
@click.option("--format", "fmt", type=click.Choice(["jpeg", "png"]), default="jpeg", show_default=True,
              help="Crop file format (jpeg at Pillow's default quality, as in the study).")
@click.option("--min-tissue", type=click.FloatRange(0, 1), default=0.0, show_default=True, metavar="SHARE",
              help="Drop crops whose tissue share (Otsu threshold on HSV saturation) is below this.")
@slide_resolution_options
@click.option("-n", "--dry-run", is_flag=True, help="Check the inputs and count the crops; write nothing.")
def split_dataset_command(source, labels, dest, crop_size, stride, fmt, min_tissue, level, magnification, mpp,
                          dry_run):
    """Cut labelled images into crops named {file_id}_{i}.jpeg with a dataset.json.

    \b
    Examples:
      python split_dataset.py --source=all_imgs/TharunThompson/ --labels=data/labels/bi_dataset.json \\
          --dest=all_imgs/tt_crops/
      thygan split-dataset --source=slides/ --labels=slides.csv --dest=tiles/ --magnification=10 \\
          --crop_size=256 --min-tissue=0.5 --format=png
    """
    from thygan.data.crops import crop_dataset

    crop_dataset(source, dest, labels=labels, crop_size=crop_size, stride=stride, fmt=fmt,
                 min_tissue=min_tissue, level=level, magnification=magnification, mpp=mpp, dry_run=dry_run,
                 log=click.echo)
