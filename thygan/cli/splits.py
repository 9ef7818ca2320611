"""`thygan splits`: the study's patient-grouped cross-validation split files, or a check of one."""

from pathlib import Path

import click

from thygan.cli.command import Command


@click.command(cls=Command, name="splits", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--labels", required=True, metavar="PATH", type=click.Path(),
              help="Labels with patients: the study's JSON with 'meta', a CSV with a patient column, or a "
                   "dataset.json written by split-dataset / sample-tiles.")
@click.option("--dest", metavar="DIR", type=click.Path(file_okay=False),
              help="Write cv_splits/ and full_data_splits/ here (the study's data/ folder).")
@click.option("--check", "check_paths", multiple=True, metavar="JSON", type=click.Path(dir_okay=False),
              help="Validate split files (file names or patient ids) and print their table; repeatable.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, metavar="K",
              help="Outer folds (test sets) and full-data splits.")
@click.option("--inner-folds", type=click.IntRange(min=2), default=4, show_default=True, metavar="J",
              help="Inner folds (train/val) within each outer fold.")
@click.option("--stratify", type=click.Choice(["diagnosis", "label"]), default="diagnosis", show_default=True,
              help="What the folds keep in proportion, per patient.")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True, metavar="INT",
              help="random_state of the StratifiedKFold shuffles.")
def splits_command(labels, dest, check_paths, folds, inner_folds, stratify, seed):
    """Write patient-grouped, stratified split files, or validate existing ones.

    \b
    Examples:
      thygan splits --labels=data/labels/bi_dataset.json --dest=data/
      thygan splits --labels=data/labels/bi_dataset.json --check=data/cv_splits/cv0_split.json
    """
    from thygan.data.labels import read_labels
    from thygan.data.splits import load_split, summary_table, write_splits
    from thygan.errors import UserError

    if (dest is None) == (not check_paths):
        raise UserError("--dest, --check: give exactly one of them")
    table = read_labels(labels)
    if check_paths:
        splits = {path: load_split(path, table) for path in check_paths}
    else:
        written = write_splits(dest, table, stratify=stratify, folds=folds, inner_folds=inner_folds,
                               seed=seed)
        # Inner fold 0 of each outer fold (what cv{k}_split.json holds) and the full-data splits.
        splits = {Path(path).stem: split for path, split in written.items() if path.endswith("_0.json")
                  or "data_split_" in path}
        click.echo(f"wrote {len(written) + folds} split files under {dest}")
    click.echo(summary_table(splits, table))

