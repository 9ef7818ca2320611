"""`thygan dlc-cv`: the study's cross-validated comparison of gan_params recipes in one command."""

import click

from thygan.cli.command import Command
from thygan.cli.dlc_train import data_options, training_options


@click.command(cls=Command, name="dlc-cv", context_settings={"help_option_names": ["-h", "--help"]})
@data_options
@click.option("--split_dir", "--split-dir", "split_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False),
              help="Folder with the folds' split files (what `thygan splits --dest` wrote).")
@click.option("--folds", metavar="RANGE", help="Folds to run, e.g. 0-4 or 0,2 (inclusive). Default: all found.")
@click.option("--inner", type=click.IntRange(min=0), default=0, show_default=True, metavar="J",
              help="Inner fold j of cv_split_{k}_{j}.json (train/val choice).")
@click.option("--recipes", default="none", show_default=True, metavar="LIST",
              help="Comma list of gan_params files to compare; 'none' = real images only.")
@click.option("--ext_labels", "--ext-labels", "ext_labels", metavar="PATH", type=click.Path(),
              help="External evaluation set: its labels (with patients), e.g. data/labels/ext_dataset.json.")
@click.option("--ext_src_dir", "--ext-src-dir", "ext_src_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="External evaluation set: its image folder.")
@click.option("--ext_split", "--ext-split", "ext_split", metavar="JSON", type=click.Path(dir_okay=False),
              help="External set: a split file whose 'test' list is evaluated. Default: every labelled image.")
@click.option("--ext_name", "--ext-name", "ext_name", default="external", show_default=True, metavar="NAME",
              help="Name of the external set in the table.")
@click.option("--eval_batch_size", "--eval-batch-size", "eval_batch_size", type=click.IntRange(min=1), default=20,
              show_default=True, metavar="INT", help="Images per forward pass when evaluating.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True, metavar="N",
              help="Bootstrap resamples of patients for each evaluation's intervals.")
@training_options
def dlc_cv_command(split_dir, folds, inner, recipes, ext_labels, ext_src_dir, ext_split, ext_name, eval_batch_size,
                   bootstrap, **flags):
    """Train and evaluate every fold for each recipe; write comparison.csv/.md/.png.

    \b
    Examples:
      thygan dlc-cv --src_dir=all_imgs/TharunThompson/ --labels=data/labels/bi_dataset.json \\
          --split_dir=splits/ --out_dir=cv_results/ --batch_size=64 \\
          --recipes=none,data/gan_params/cv_bi100.json,data/gan_params/cv_mc100.json \\
          --ext_labels=data/labels/ext_dataset.json --ext_src_dir=all_imgs/External/ --ext_name=Niki-TCGA
    """
    from dnnlib import parse_num_range
    from thygan.classify.cv import ExternalSet, find_split_files, run_cv
    from thygan.classify.data import check_split_images
    from thygan.classify.options import TrainOptions
    from thygan.data.labels import read_labels
    from thygan.errors import UserError
    from thygan.sources.recipe import read_recipe

    try:
        fold_list = parse_num_range(folds) if folds else None
    except ValueError as exc:
        raise UserError(f"--folds: {exc}") from None
    recipe_list = [item.strip() for item in recipes.split(",") if item.strip()]
    if not recipe_list:
        raise UserError("--recipes: expected a comma list such as none,data/gan_params/cv_bi100.json")
    for recipe in recipe_list:  # every recipe (networks and classes too) checked before hours of training start
        if (parsed := read_recipe(recipe, network=flags["gan_network"])) is not None:
            parsed.check()
            parsed.check_crop(flags["crop_size"])
    if (ext_labels is None) != (ext_src_dir is None):
        raise UserError("--ext_labels, --ext_src_dir: give both for an external evaluation, or neither")
    external = ExternalSet(ext_name, ext_src_dir, ext_labels, ext_split) if ext_labels else None
    split_files = find_split_files(split_dir, fold_list, inner=inner)
    check_split_images(flags["src_dir"], read_labels(flags["labels"]), list(split_files.values()), flags["crop_size"])
    out_dir = flags["out_dir"]
    base = TrainOptions(split_file="", run_id="", gan_params=None, **flags)
    run_cv(base, split_files=split_files, recipes=recipe_list, out_dir=out_dir, external=external,
           bootstrap=bootstrap, eval_batch_size=eval_batch_size, echo=click.echo)
