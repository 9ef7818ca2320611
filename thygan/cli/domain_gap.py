"""`thygan domain-gap`: embed named image sets, measure every pairwise gap, draw UMAP projections."""

import click

from thygan.cli.command import Command
from thygan.gap.extractors import EXTRACTORS


def _parse_union(text: str) -> tuple[str, list[str]]:
    from thygan.errors import UserError

    name, sep, members = text.partition("=")
    parts = [m.strip() for m in members.split(",") if m.strip()]
    if not sep or not name.strip() or len(parts) < 2:
        raise UserError(f"--union: expected NAME=SET,SET[,...], got '{text}'")
    return name.strip(), parts


@click.command(cls=Command, name="domain-gap", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--set", "set_specs", multiple=True, required=True, metavar="NAME=SOURCE[:k=v]",
              help="An image set (repeat, two or more): a folder or zip (NAME=tiles/, :max=N for a subset) "
                   "or a network (NAME=net.safetensors:class=all:seeds=0-99[:trunc=1][:noise=const]); "
                   ":color=NAME sets its plot colour.")
@click.option("--union", "union_specs", multiple=True, metavar="NAME=SET,SET",
              help="A set made of other sets' images, compared in the table (e.g. 'source+GAN=source,GAN').")
@click.option("--outdir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Where to write the tables, figures and options.json (created if missing).")
@click.option("--extractor", type=click.Choice(EXTRACTORS.names()), default="inception", show_default=True,
              help="Feature extractor; colour-histogram and pixels are weight-free baselines.")
@click.option("--weights", metavar="PATH", type=click.Path(dir_okay=False),
              help="Weights for the extractor (resnet50, efficientnet_lite0: backbone weights; dlc: a "
                   "trained dlc_main model; inception: a TorchScript detector instead of the bundled one).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run the extractor and generators; auto = cuda when available.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=32, show_default=True,
              metavar="INT", help="Images per extractor (and generator) call.")
@click.option("--cache", "cache_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Feature cache folder, shareable between runs. Default: OUTDIR/embeddings.")
@click.option("--per-class/--no-per-class", default=True, show_default=True,
              help="Add a table row per class that both sets of a pair have.")
@click.option("--min-class-size", type=click.IntRange(min=2), default=10, show_default=True, metavar="INT",
              help="Images a class needs in each set to get its own row.")
@click.option("--umap/--no-umap", "umap", default=True, show_default=True,
              help="Fit UMAP 2-D and 3-D and draw the scatter plots.")
@click.option("--umap-seed", type=click.IntRange(min=0), default=42, show_default=True, metavar="INT",
              help="UMAP random_state (42 as in the study).")
@click.option("--umap-neighbors", type=click.IntRange(min=2), default=15, show_default=True, metavar="INT",
              help="UMAP n_neighbors.")
@click.option("--umap-min-dist", type=click.FloatRange(min=0), default=0.1, show_default=True,
              metavar="FLOAT", help="UMAP min_dist.")
@click.option("--umap-epochs", type=click.IntRange(min=1), metavar="INT",
              help="UMAP layout epochs. Default: umap-learn's (500 below 10,000 points, else 200).")
@click.option("--markers-by-class", is_flag=True, help="Give each class its own marker shape in the plots.")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True, metavar="INT",
              help="KID: random subset pairs averaged (one when both sets fit in one subset).")
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
              metavar="INT", help="KID: points per subset, at most.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, metavar="INT",
              help="Domain classifier: cross-validation folds.")
@click.option("--pca-dim", type=click.IntRange(min=0), default=50, show_default=True, metavar="INT",
              help="Domain classifier: most principal components kept before the logistic regression "
                   "(0 = no limit); fewer with few images, see --images-per-dim.")
@click.option("--images-per-dim", type=click.IntRange(min=1), default=5, show_default=True, metavar="INT",
              help="Domain classifier: training images of the smaller set per principal component (with 20 "
                   "images per set and 5 folds: 3 components).")
@click.option("--neighbours", type=click.IntRange(min=1), default=10, show_default=True, metavar="K",
              help="kNN overlap: neighbours per point.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Seed of the KID subsets and the classifier folds.")
@click.option("-n", "--dry-run", is_flag=True,
              help="Check the sets and print what would be done; embed nothing.")
def domain_gap_command(set_specs, union_specs, outdir, dry_run, kid_subsets, kid_subset_size, folds, pca_dim,
                       images_per_dim, neighbours, seed, **run_options):
    """Measure and picture the gap between image sets (source, external cohorts, GAN images).

    \b
    Examples:
      thygan domain-gap --set source=tt_crops/ --set Nikiforov=niki/ --set TCGA=tcga/ \\
          --set GAN=net.safetensors:class=all:seeds=0-749 --union "source+GAN=source,GAN" --outdir dg/
      thygan domain-gap --set "H&E=tiles64/" --set IHC=ihc64/ --extractor=colour-histogram --outdir dg/
    """
    import json
    from dataclasses import asdict

    from thygan.gap.analysis import DomainGapOptions, check_set_names, run_domain_gap
    from thygan.gap.image_sets import parse_set_spec
    from thygan.gap.measures import GapOptions
    from thygan.viz.gap_plots import draw_domain_gap

    specs = [parse_set_spec(text) for text in set_specs]
    unions = [_parse_union(text) for text in union_specs]
    check_set_names(specs, unions)
    gap = GapOptions(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, folds=folds, pca_dim=pca_dim,
                     images_per_dim=images_per_dim, neighbours=neighbours, seed=seed)
    opts = DomainGapOptions(**run_options, gap=gap)
    record = {"sets": [asdict(s) for s in specs], "unions": unions, "options": asdict(opts)}
    click.echo(json.dumps(record, indent=2))
    if dry_run:
        _describe_sets(specs, batch_size=opts.batch_size)
        return
    result = run_domain_gap(specs, outdir, unions=unions, opts=opts)
    draw_domain_gap(result, outdir, opts=opts)
    click.echo("\n" + result.table())
    for name, path in result.files.items():
        click.echo(f"{name:>9}: {path}")


def _describe_sets(specs, *, batch_size: int) -> None:
    """Open every set (which checks it) and print its size and classes."""
    from thygan.gap.image_sets import open_image_set

    for spec in specs:
        image_set = open_image_set(spec, device="cpu", batch_size=batch_size)
        classes = sorted({image_set.class_key(label) for label in image_set.labels.tolist() if label >= 0})
        click.echo(f"{spec.name}: {len(image_set)} images, classes: {', '.join(classes) or 'unlabelled'}")
