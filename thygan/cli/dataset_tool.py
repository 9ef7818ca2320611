"""`dataset_tool.py` / `thygan dataset-tool`: images (+ labels) -> a training dataset folder or zip.

The reference flags, plus label sources for pathology data: class sub-folders, a CSV of
`filename,label`, or a dataset.json (reference format or thygan's split_dataset output).
"""

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="dataset-tool", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--source", required=True, metavar="PATH", type=click.Path(),
              help="Input: a folder (searched recursively) or a zip of images; "
                   "class sub-folders give labels.")
@click.option("--dest", required=True, metavar="PATH", type=click.Path(),
              help="Output: a new .zip (uncompressed) or an empty/new folder.")
@click.option("--labels", "labels_path", metavar="FILE", type=click.Path(dir_okay=False), default=None,
              show_default=True,
              help="Labels: CSV of filename,label (index or class name) or a dataset.json "
                   "[default: dataset.json, then labels.csv, then class sub-folders of --source].")
@click.option("--max-images", type=click.IntRange(min=1), default=None, show_default=True, metavar="INT",
              help="Keep only the first INT images in sorted order.")
@click.option("--transform", type=click.Choice(["center-crop", "center-crop-wide"]), default=None,
              show_default=True, help="Crop before resizing; both need --width and --height.")
@click.option("--width", type=click.IntRange(min=1), default=None, show_default=True, metavar="PX",
              help="Output width in pixels (a power of two; default: keep).")
@click.option("--height", type=click.IntRange(min=1), default=None, show_default=True, metavar="PX",
              help="Output height in pixels (equal to --width except with center-crop-wide).")
@click.option("--resize-filter", type=click.Choice(["box", "lanczos"]), default="lanczos", show_default=True,
              help="Resampling filter for resizing.")
@click.option("--allow-unlabeled", is_flag=True, default=False, show_default=True,
              help="If some images have no label, write an unlabeled dataset instead of refusing.")
@click.option("--class-names", "class_names", metavar="LIST", default=None,
              help="Names of classes 0, 1, ... as a comma list, e.g. PTC,NIFTP,FVPTC,FA,FTC (the study's "
                   "mc_dataset.json order) [default: the label file's class_names, else the diagnoses of its "
                   "'meta' rows, else class folder or CSV names].")
def dataset_tool_command(source, dest, labels_path, max_images, transform, width, height, resize_filter,
                         allow_unlabeled, class_names):
    """Convert an image folder or zip into a StyleGAN2-ADA training dataset.

    Writes 00000/img00000000.png ... (PNG, 1000 per folder) and dataset.json with the labels and
    class names. All or nothing: on any error nothing is left at --dest.

    \b
    Examples:
      python dataset_tool.py --source=tiles/ --dest=datasets/tiles-256.zip \\
          --transform=center-crop --width=256 --height=256
      python dataset_tool.py --source=split/ --labels=labels.csv --dest=datasets/split.zip
      thygan dataset-tool --source=by_class/ --dest=datasets/by_class-512.zip
      thygan dataset-tool --source=tt_crops/ --labels=data/labels/mc_dataset.json --dest=datasets/tt_mc.zip \\
          --class-names=PTC,NIFTP,FVPTC,FA,FTC
    """
    from thygan.data.dataset_tool import convert_dataset

    summary = convert_dataset(source=source, dest=dest, labels_path=labels_path, max_images=max_images,
                              transform=transform, width=width, height=height, resize_filter=resize_filter,
                              allow_unlabeled=allow_unlabeled, log=click.echo,
                              class_names=None if class_names is None else class_names.split(","))
    classes = summary["class_names"]
    classes_str = f", {len(classes)} classes ({', '.join(classes)})" if classes else ""
    click.echo(f"wrote {summary['num_images']} images of {summary['resolution']}x{summary['resolution']}x"
               f"{summary['num_channels']}{classes_str} to {summary['dest']}")
