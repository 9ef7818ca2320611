#!/bin/bash
# Generate images of one class from a trained network (generate.py; seeds are inclusive ranges).
# Submit from the thygan checkout: `sbatch shell_scr/slurm/generate.sh`.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-generate
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=2:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (NETWORK=... CLASS=... sbatch ...) ---------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                  # the thygan checkout (where sbatch ran)
NETWORK=${NETWORK:-models/gan_mc.safetensors}   # a network-snapshot-*.safetensors, or a .pkl
SEEDS=${SEEDS:-0-999}                           # inclusive: 0-999 is 1000 images
CLASS=${CLASS:-0}                               # index, name, comma list or `all`
OUTDIR=${OUTDIR:-generated/class$CLASS}         # CLASS=all: one sub-folder per class
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"

python generate.py --network="$NETWORK" --seeds="$SEEDS" --class="$CLASS" --outdir="$OUTDIR"

deactivate
