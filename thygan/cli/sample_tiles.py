"""`thygan sample-tiles`: a labelled tile dataset from an annotated slide, or the IHC second domain."""

import click

from thygan.cli.command import Command
from thygan.cli.split_dataset import slide_resolution_options


@click.command(cls=Command, name="sample-tiles", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--slide", metavar="PATH", type=click.Path(dir_okay=False),
              help="Whole-slide image, e.g. data/sample/CMU-1-Small-Region.svs.")
@click.option("--annotations", metavar="GEOJSON", type=click.Path(dir_okay=False),
              help="Classified polygons in level-0 pixels, e.g. data/sample/annotations.geojson.")
@click.option("--ihc", is_flag=True,
              help="Tile scikit-image's immunohistochemistry image instead (a second stain domain).")
@click.option("--ihc-label", type=click.IntRange(min=0), metavar="INT",
              help="With --ihc: give every tile this class; default unlabelled.")
@click.option("--dest", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Output folder for the tiles and dataset.json (created if missing).")
@click.option("--tile", type=click.IntRange(min=1), default=64, show_default=True, metavar="PX",
              help="Tile side in pixels (64 or 128 for CPU demos, 512 full size).")
@click.option("--stride", type=click.IntRange(min=1), metavar="PX",
              help="Grid step in pixels; below --tile the tiles overlap. Default: --tile.")
@slide_resolution_options
@click.option("--blocks", type=click.IntRange(min=1), metavar="K",
              help="Pseudo-patients: the image cut into K x K regions. Default: 4, or 2 with --ihc.")
@click.option("--min-labelled", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              metavar="SHARE", help="Drop tiles with a smaller annotated share of their area.")
@click.option("--classes", metavar="LIST",
              help="Comma list of class names, in label order (others ignored). Default: all, sorted.")
@click.option("--format", "fmt", type=click.Choice(["png", "jpeg"]), default="png", show_default=True,
              help="Tile file format.")
def sample_tiles_command(slide, annotations, ihc, ihc_label, dest, tile, stride, level, magnification, mpp,
                         blocks, min_labelled, classes, fmt):
    """Cut an annotated slide into labelled tiles with slide regions as pseudo-patients.

    \b
    Examples:
      thygan sample-tiles --slide=data/sample/CMU-1-Small-Region.svs \\
          --annotations=data/sample/annotations.geojson --tile=64 --dest=sample_tiles/
      thygan sample-tiles --ihc --tile=64 --stride=32 --dest=ihc_tiles/
    """
    from thygan.data.sample import ihc_tile_dataset, slide_tile_dataset
    from thygan.errors import UserError

    if ihc:
        if slide or annotations:
            raise UserError("--ihc: tiles the bundled IHC image; drop --slide and --annotations")
        ihc_tile_dataset(dest, tile=tile, stride=stride, blocks=blocks or 2, label=ihc_label, fmt=fmt,
                         log=click.echo)
        return
    if not slide or not annotations:
        raise UserError("--slide, --annotations: both required (or --ihc)")
    class_list = [name.strip() for name in classes.split(",") if name.strip()] if classes else None
    slide_tile_dataset(slide, annotations, dest, tile=tile, stride=stride, level=level,
                       magnification=magnification, mpp=mpp, blocks=blocks or 4, min_labelled=min_labelled,
                       classes=class_list, fmt=fmt, log=click.echo)
