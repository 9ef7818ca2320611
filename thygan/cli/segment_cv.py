"""`thygan segment-cv`: every fold x every segmentation recipe, trained and scored, one comparison table."""

import click

from thygan.cli.command import Command
from thygan.cli.segment import hovernet_training_options, recipe_cache_option


@click.command(cls=Command, name="segment-cv", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Labelled images, any layout `segment train --data` reads; split into --folds folds.")
@click.option("--outdir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Gets folds/, <recipe>/fold<k>/ runs and results, comparison.csv/.md/.png.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, metavar="K",
              help="Folds over the images of --data, grouped by slide/patient (README: segment-cv).")
@click.option("--recipes", default="none", show_default=True, metavar="LIST",
              help="Comma list of segmentation recipe files to compare; 'none' = real images only.")
@click.option("--external", metavar="DIR", type=click.Path(file_okay=False),
              help="Labelled external set (any --data layout) scored by every fold's model.")
@click.option("--external-name", default="external", show_default=True, metavar="NAME",
              help="Name of the external set in the table.")
@recipe_cache_option
@hovernet_training_options
@click.option("-n", "--dry-run", is_flag=True, help="Print the folds, sizes and recipe plans; train nothing.")
def segment_cv_command(data, outdir, folds, recipes, external, external_name, recipe_cache, dry_run, **training):
    """Train and score HoVer-Net for every fold and recipe; write comparison.csv/.md/.png.

    \b
    Examples:
      thygan segment-cv --data=PanNuke/fold1 --outdir=cv-seg/ --folds=5 --mode=fast --nr-types=6 \\
          --recipes=none,data/segment_recipes/pannuke_pix2pix.json --external="PanNuke/fold3" \\
          --external-name=PanNuke-fold3
      thygan segment-cv --data=pl/train --outdir=cv-pl/ --folds=3 --mode=fast --width=0.125 \\
          --blocks=1,1,1,1 --input-size=128 --epochs=2,2 --batch=4,4 --device=cpu -n
    """
    from thygan.errors import UserError
    from thygan.segment.cv import CV_SET, ExternalSet, plan_cv, run_cv
    from thygan.segment.training_loop import SegmentOptions

    recipe_list = [item.strip() for item in recipes.split(",") if item.strip()]
    if external_name == CV_SET:
        raise UserError(f"--external-name: '{CV_SET}' names the held-out folds; choose another name")
    ext = ExternalSet(external_name, external) if external else None
    base = SegmentOptions(data=data, **training)
    plan = plan_cv(base, folds=folds, recipes=recipe_list, external=ext)  # every input checked before training
    if dry_run:
        click.echo(plan.describe())
        click.echo("dry run, nothing trained")
        return
    run_cv(plan, outdir=outdir, recipe_cache=recipe_cache, echo=click.echo)
