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
@click.option("--blocks", metavar="ROWSxCOLS",
              help="Pseudo-patients: the image cut into ROWS x COLS regions (or K: K x K). "
                   "Default: 8x2 (suits the tall sample slide), 2x2 with --ihc.")
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

    grid = _parse_blocks(blocks) if blocks else None
    if ihc:
        if slide or annotations:
            raise UserError("--ihc: tiles the bundled IHC image; drop --slide and --annotations")
        ihc_tile_dataset(dest, tile=tile, stride=stride, blocks=grid or (2, 2), label=ihc_label, fmt=fmt,
                         log=click.echo)
        return
    if not slide or not annotations:
        raise UserError("--slide, --annotations: both required (or --ihc)")
    class_list = [name.strip() for name in classes.split(",") if name.strip()] if classes else None
    slide_tile_dataset(slide, annotations, dest, tile=tile, stride=stride, level=level,
                       magnification=magnification, mpp=mpp, blocks=grid or (8, 2), min_labelled=min_labelled,
                       classes=class_list, fmt=fmt, log=click.echo)


def _parse_blocks(text: str) -> tuple[int, int]:
    """``"8x2"`` -> (8, 2); ``"4"`` -> (4, 4)."""
    from thygan.errors import UserError

    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise UserError(f"--blocks: expected ROWSxCOLS such as 8x2, or K, got '{text}'")
    rows, cols = (int(parts[0]), int(parts[-1]))
    return rows, cols
