"""`thygan export-geojson`: tile outlines with their class (and predictions) as QuPath GeoJSON, per slide."""

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="export-geojson", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", required=True, metavar="PATH", type=click.Path(),
              help="Tile folder (or its dataset.json) written by sample-tiles or split-dataset.")
@click.option("--dest", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Output folder: one <slide>.geojson per slide (created if missing).")
@click.option("--predictions", metavar="CSV", type=click.Path(dir_okay=False),
              help="dlc-eval's test_preds.csv: adds each tile's predicted class and probabilities.")
@click.option("--object-type", type=click.Choice(["detection", "annotation"]), default="detection",
              show_default=True, help="QuPath object type: detections are light; annotations are editable.")
@click.option("--classify-by", type=click.Choice(["label", "prediction"]), default="label", show_default=True,
              help="Class shown on each tile in QuPath: its label, or its prediction (needs --predictions).")
@click.option("--colors", metavar="GEOJSON", type=click.Path(dir_okay=False),
              help="Take class colours from this GeoJSON's classifications (e.g. the slide's annotations). "
                   "Default: a fixed palette in class order.")
def export_geojson_command(dataset, dest, predictions, object_type, classify_by, colors):
    """Write each slide's tiles as a GeoJSON FeatureCollection for QuPath (File > Import objects).

    \b
    Examples:
      thygan export-geojson --dataset=sample_tiles/ --dest=geojson/ \\
          --colors=data/sample/annotations.geojson
      thygan export-geojson --dataset=tiles/ --predictions=eval/000-test/test_preds.csv \\
          --classify-by=prediction --dest=geojson/
    """
    from thygan.data.tile_geojson import export_tile_geojson

    export_tile_geojson(dataset, dest, predictions=predictions, object_type=object_type, classify_by=classify_by,
                        colors=colors, log=click.echo)
