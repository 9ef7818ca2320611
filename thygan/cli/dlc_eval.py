"""`dlc_eval.py` / `thygan dlc-eval`: patient-level evaluation of a trained downstream classifier."""

import click

from thygan.cli.command import Command
from thygan.cli.dlc_train import MODEL_NAMES, data_options


@click.command(cls=Command, name="dlc-eval", context_settings={"help_option_names": ["-h", "--help"]})
@data_options
@click.option("--split_file", "--split-file", "split_file", metavar="JSON", type=click.Path(dir_okay=False),
              help="Split file whose --split_key list is evaluated. Default: every labelled image.")
@click.option("--split_key", "--split-key", "split_key", default="test", show_default=True, metavar="KEY",
              help="Which list of the split file to evaluate.")
@click.option("--run_id", "--run-id", "run_id", required=True, metavar="NAME",
              help="Run name; outputs go to OUT_DIR/{NNN}-{run_id}.")
@click.option("--mdl_loc", "--mdl-loc", "mdl_loc", required=True, metavar="PATH", type=click.Path(dir_okay=False),
              help="Trained model: a dlc-train vl_*.safetensors, or a state-dict .pth (the study's).")
@click.option("--batch_size", "--batch-size", "batch_size", type=click.IntRange(min=1), default=20,
              show_default=True, metavar="INT", help="Images per forward pass.")
@click.option("--workers", type=click.IntRange(min=0), default=8, show_default=True, metavar="INT",
              help="Data-loading processes (0 = in the main process).")
@click.option("--crop_size", "--crop-size", "crop_size", type=click.IntRange(min=1), default=None, metavar="PX",
              help="Crop side [default: the one the checkpoint was trained with; 512 for a .pth].")
@click.option("--model_type", "--model-type", "model_type", default="resnet101", show_default=True, metavar="NAME",
              help=f"Architecture of a .pth state dict ({MODEL_NAMES}); checkpoints know their own.")
@click.option("--eval_crop", "--eval-crop", "eval_crop", type=click.Choice(["center", "tiles"]), default=None,
              help="The central crop, or every grid tile with probabilities averaged [default: the checkpoint's "
                   "training setting; center for a .pth].")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True, metavar="N",
              help="Bootstrap resamples of patients for the 95% intervals (0 = none).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Bootstrap seed.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run.")
def dlc_eval_command(**flags):
    """Predict a labelled set, vote per patient, write test_preds.csv, Conf_Matrix.png and metrics.json.

    \b
    Examples:
      python dlc_eval.py --src_dir=all_imgs/TharunThompson/ --labels=data/labels/bi_dataset.json \\
          --out_dir=logs/ --split_file=data/cv_splits/cv0_splits/cv_split_0_0.json --run_id=mod_test \\
          --mdl_loc=logs/000-cv0_mc100/vl_0.2983.safetensors
      python dlc_eval.py --src_dir=all_imgs/External/ --labels=data/labels/ext_dataset.json \\
          --out_dir=logs/ --split_file=data/labels/ext_test_fnames.json --run_id=ext --mdl_loc=vl_0.2983.pth
    """
    from thygan.classify.evaluate import evaluate_model, prepare_evaluation
    from thygan.classify.options import EvalOptions
    from thygan.classify.run_folder import make_eval_dir

    prepared = prepare_evaluation(EvalOptions(**flags))  # every input checked before the run folder exists
    run_dir = make_eval_dir(prepared.opts.out_dir, prepared.opts.run_id)
    click.echo(f"Run folder: {run_dir}")
    evaluate_model(prepared.opts, run_dir, echo=click.echo, prepared=prepared)
