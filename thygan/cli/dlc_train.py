"""`dlc_main.py` / `thygan dlc-train`: train the downstream classifier on real (+ synthetic) images.

The study's flags keep their names and defaults; thygan's additions follow them. The training
options are shared with `thygan dlc-cv` (defined once here).
"""

import click

from thygan.cli.command import Command
from thygan.cli.option_group import with_options

MODEL_NAMES = "resnet18, resnet34, resnet50, resnet101, resnet152, efficientnet_lite0"


def data_options(function):
    """--src_dir, --labels, --out_dir: where the images, their labels and the outputs are."""
    return with_options(function, [
        click.option("--src_dir", "--src-dir", "src_dir", required=True, metavar="DIR",
                     type=click.Path(file_okay=False), help="Folder of the images named in --labels."),
        click.option("--labels", required=True, metavar="PATH", type=click.Path(),
                     help="Labels: the study's JSON (labels/meta), a dataset.json, a CSV or class folders."),
        click.option("--out_dir", "--out-dir", "out_dir", required=True, metavar="DIR",
                     type=click.Path(file_okay=False), help="Output folder (created if missing)."),
    ])


def training_options(function):
    """Model, optimisation, augmentation and device options of a training run."""
    return with_options(function, [
        click.option("--gan_network", "--gan-network", "gan_network", metavar="PATH", type=click.Path(),
                     help="Generator for the recipe, overriding its 'network' (.pkl or thygan checkpoint)."),
        click.option("--gan_cache", "--gan-cache", "gan_cache", metavar="DIR", type=click.Path(file_okay=False),
                     help="Synthetic image cache, shared by runs and folds. Default: OUT_DIR/gan_cache."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
                     metavar="FLOAT", help="Adam learning rate."),
        click.option("--epochs", type=click.IntRange(min=1), default=500, show_default=True, metavar="INT",
                     help="Most epochs."),
        click.option("--batch_size", "--batch-size", "batch_size", type=click.IntRange(min=1), default=8,
                     show_default=True, metavar="INT", help="Images per step, over all GPUs (the study ran 64)."),
        click.option("--workers", type=click.IntRange(min=0), default=8, show_default=True, metavar="INT",
                     help="Data-loading processes per GPU (0 = in the main process)."),
        click.option("--crop_size", "--crop-size", "crop_size", type=click.IntRange(min=1), default=512,
                     show_default=True, metavar="PX", help="Crop side for training and evaluation."),
        click.option("--model_type", "--model-type", "model_type", default="resnet101", show_default=True,
                     metavar="NAME", help=f"Classifier: {MODEL_NAMES}."),
        click.option("--weights", metavar="PATH", type=click.Path(),
                     help="Initial weights: a torchvision-format .pth (e.g. ImageNet), a thygan checkpoint, or "
                          "'none'. Default: efficientnet_lite0 its bundled ImageNet weights, resnets random."),
        click.option("--width", type=click.IntRange(min=1), default=64, show_default=True, metavar="INT",
                     help="First-stage channels of a ResNet (64 = standard; small for quick CPU runs)."),
        click.option("--lrd_epc", "--lrd-epc", "lrd_epc", type=click.IntRange(min=0), default=10,
                     show_default=True, metavar="EPOCHS", help="Learning-rate decay patience (ReduceLROnPlateau)."),
        click.option("--lrd_fac", "--lrd-fac", "lrd_fac", type=click.FloatRange(0, 1, min_open=True,
                     max_open=True), default=0.5, show_default=True, metavar="FACTOR",
                     help="Learning-rate decay factor."),
        click.option("--es_pat", "--es-pat", "es_pat", type=click.IntRange(min=1), default=50, show_default=True,
                     metavar="EPOCHS", help="Early-stopping patience."),
        click.option("--weight_decay", "--weight-decay", "weight_decay", type=click.FloatRange(min=0), default=1e-6,
                     show_default=True, metavar="FLOAT", help="Adam weight decay."),
        click.option("--augment", type=click.Choice(["study", "basic", "none"]), default="study",
                     show_default=True,
                     help="Augmentation: the study's pipeline, flips/rotation/crop, or crop only."),
        click.option("--eval_crop", "--eval-crop", "eval_crop", type=click.Choice(["center", "tiles"]),
                     default="center", show_default=True,
                     help="Evaluation crops: the central one, or every grid tile with probabilities averaged."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
                     help="Seed of initialisation, shuffling and augmentation."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where to train."),
        click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, metavar="INT",
                     help="Processes for DDP, one per GPU (gloo processes on CPU). torchrun works too."),
    ])


@click.command(cls=Command, name="dlc-train", context_settings={"help_option_names": ["-h", "--help"]})
@data_options
@click.option("--split_file", "--split-file", "split_file", required=True, metavar="JSON",
              type=click.Path(dir_okay=False), help="Split with 'train' and 'val' lists (file names or patient ids).")
@click.option("--run_id", "--run-id", "run_id", required=True, metavar="NAME",
              help="Run name; outputs go to OUT_DIR/{NNN}-{run_id}.")
@click.option("--gan_params", "--gan-params", "gan_params", metavar="JSON",
              help="Synthetic-data recipe (data/gan_params/*.json); None = real images only.")
@training_options
@click.option("--restart", is_flag=True, help="Start a new run folder even if an unfinished one could resume.")
@click.option("-n", "--dry-run", is_flag=True,
              help="Check the inputs, print the options and image counts; train nothing.")
def dlc_train_command(restart, dry_run, **flags):
    """Train a ResNet / EfficientNet-Lite0 on real images plus a gan_params recipe's synthetic images.

    \b
    Examples:
      python dlc_main.py --src_dir=all_imgs/TharunThompson/ --labels=data/labels/bi_dataset.json \\
          --out_dir=logs/ --split_file=data/cv_splits/cv0_splits/cv_split_0_0.json --run_id=cv0_mc100 \\
          --batch_size=64 --gan_params=data/gan_params/cv_mc100.json
      thygan dlc-train --src_dir=tiles/ --labels=tiles/dataset.json --out_dir=runs/ \\
          --split_file=splits/cv_splits/cv0_splits/cv_split_0_0.json --run_id=quick \\
          --crop_size=64 --model_type=resnet18 --width=16 --epochs=5 --device=cpu
    """
    from thygan.classify.options import TrainOptions, options_to_json
    from thygan.classify.reports import image_count_table
    from thygan.classify.run import launch_training
    from thygan.classify.train import prepare_items
    from thygan.sources.recipe import recipe_name

    opts = TrainOptions(**flags)
    click.echo("Training options:")
    click.echo(options_to_json(opts), nl=False)
    # Every input (the recipe's network and classes included) is checked before a run folder exists
    # or an image is generated, so bad input leaves nothing behind.
    items = prepare_items(opts, lambda line: None, materialise=False)
    if dry_run:
        click.echo(image_count_table(items.class_names, items.real_counts, items.synthetic_counts,
                                     recipe_name(opts.gan_params)))
        click.echo(f"validation images: {len(items.val)}")
        click.echo("Dry run; exiting.")
        return
    launch_training(opts, restart=restart, echo=click.echo)
