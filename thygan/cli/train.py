"""`train.py` / `thygan train`: StyleGAN2-ADA training with the reference's flags.

Bool flags take values, as in the reference (`--cond=1`, `--mirror=true`).
"""

import dataclasses

import click

from thygan.cli.command import Command
from thygan.errors import UserError
from thygan.stylegan.presets import PRESETS
from thygan.stylegan.training_options import AUGPIPES, PRECISIONS, TrainFlags

# Defaults are TrainFlags' (declared once there); these options only show them.
DEFAULT = {f.name: f.default for f in dataclasses.fields(TrainFlags) if f.default is not dataclasses.MISSING}


@click.command(cls=Command, name="train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--outdir", required=True, metavar="DIR", help="Where to make the run folder.")
@click.option("--gpus", type=click.IntRange(min=1), metavar="INT",
              help="Number of GPUs (processes) to start; a power of two. Under torchrun, leave it out (or "
                   "match --nproc_per_node): each process joins torchrun's group [default: 1, or torchrun's "
                   "process count].")
@click.option("--snap", type=click.IntRange(min=1), default=DEFAULT["snap"], show_default=True, metavar="TICKS",
              help="Snapshot interval in ticks (network and image grid).")
@click.option("--metrics", metavar="LIST",
              help="Comma list of metrics or 'none' [default: fid50k_full; fid2k_full for CPU presets].")
@click.option("--metrics-at-start", type=bool, default=DEFAULT["metrics_at_start"], show_default=True,
              metavar="BOOL", help="Also evaluate --metrics on the kimg-0 snapshot (the untrained network), as "
                                   "the reference does; 0 saves one evaluation of every metric.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT["seed"], show_default=True, metavar="INT",
              help="Random seed.")
@click.option("-n", "--dry-run", is_flag=True, help="Print the resolved options and exit.")
@click.option("--data", required=True, metavar="PATH", help="Training data (folder or zip from dataset_tool.py).")
@click.option("--cond", type=bool, default=DEFAULT["cond"], show_default=True, metavar="BOOL",
              help="Train a conditional model on the dataset.json labels.")
@click.option("--subset", type=click.IntRange(min=1), metavar="INT", help="Train on only N images [default: all].")
@click.option("--mirror", type=bool, default=DEFAULT["mirror"], show_default=True, metavar="BOOL",
              help="Enable dataset x-flips.")
@click.option("--cfg", default=DEFAULT["cfg"], show_default=True, metavar="NAME",
              type=click.Choice(PRESETS.names()),
              help="Base configuration (cpu32/cpu64: small networks for CPU).")
@click.option("--gamma", type=click.FloatRange(min=0), metavar="FLOAT", help="Override R1 gamma.")
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), metavar="KIMG",
              help="Override training duration (kimg; fractions such as 0.02 make smoke tests).")
@click.option("--batch", type=click.IntRange(min=1), metavar="INT", help="Override total batch size.")
@click.option("--aug", type=click.Choice(["noaug", "ada", "fixed"]), metavar="MODE",
              help="Augmentation mode: noaug, ada or fixed [default: ada].")
@click.option("--p", type=click.FloatRange(min=0, max=1), metavar="FLOAT",
              help="Augmentation probability for --aug=fixed.")
@click.option("--target", type=click.FloatRange(min=0, max=1), metavar="FLOAT", help="ADA target value [default: 0.6].")
@click.option("--augpipe", metavar="NAME",
              type=click.Choice(AUGPIPES),
              help="Augmentation pipeline [default: bgc].")
@click.option("--resume", metavar="PATH",
              help="Resume from a thygan snapshot, a run folder (its latest snapshot) or a reference .pkl "
                   "(weights only).")
@click.option("--freezed", type=click.IntRange(min=0), default=DEFAULT["freezed"], show_default=True, metavar="INT",
              help="Freeze-D: number of leading discriminator layers to freeze.")
@click.option("--fp32", type=bool, default=DEFAULT["fp32"], show_default=True, metavar="BOOL",
              help="Disable mixed-precision training.")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="Mixed-precision dtype of the top resolutions (with conv_clamp). fp16 runs on CUDA only, "
                   "as in the reference; bf16 also runs on CPU, and needs no overflow care. --fp32=1 wins "
                   "[default: the resumed run's, else fp16].")
@click.option("--nhwc", type=bool, default=DEFAULT["nhwc"], show_default=True, metavar="BOOL",
              help="Use NHWC memory format with FP16.")
@click.option("--nobench", type=bool, default=DEFAULT["nobench"], show_default=True, metavar="BOOL",
              help="Disable cuDNN benchmarking.")
@click.option("--allow-tf32", type=bool, default=DEFAULT["allow_tf32"], show_default=True, metavar="BOOL",
              help="Allow PyTorch to use TF32 internally.")
@click.option("--compile", type=click.Choice(["none", "inductor", "aot_eager"]), default=DEFAULT["compile"],
              show_default=True,
              help="torch.compile the G and D passes of the main phases (regularization stays eager: it needs "
                   "double backward). inductor generates kernels; aot_eager only captures graphs, for checking.")
@click.option("--workers", type=click.IntRange(min=0), default=DEFAULT["workers"], show_default=True, metavar="INT",
              help="DataLoader worker processes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=DEFAULT["device"], show_default=True,
              help="Where to train; auto = cuda when available.")
@click.option("--batch-gpu", type=click.IntRange(min=1), metavar="INT",
              help="Samples per forward pass per GPU (gradient accumulation) [default: from --cfg].")
@click.option("--tick", type=click.FloatRange(min=0, min_open=True), metavar="KIMG",
              help="Progress-report interval in kimg [default: 4; 1 for CPU presets].")
def train_command(outdir, dry_run, **flags):
    """Train a GAN using the techniques of "Training Generative Adversarial Networks with Limited Data".

    \b
    Examples:
      python train.py --outdir=training-runs --data=data/sample/tiles64.zip --cfg=cpu64 --cond=1 --kimg=20
      python train.py --outdir=training-runs --data=tt_512.zip --cfg=paper512 --cond=1 --mirror=1 --gpus=4
    """
    from thygan.stylegan.train_launch import launch_training

    flags = TrainFlags(**flags)
    if flags.aug == "fixed" and flags.p is None:
        raise UserError("--aug=fixed requires specifying --p")
    launch_training(flags, outdir=outdir, dry_run=dry_run)
