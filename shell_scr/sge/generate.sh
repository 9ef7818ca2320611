#!/bin/bash
# Generate images of one class from a trained network (generate.py; seeds are inclusive ranges).
# Submit from the thygan checkout: `qsub shell_scr/sge/generate.sh`.
#
# ---- scheduler: put your e-mail address; h_vmem is per core ------------------------------------------
#$ -cwd
#$ -j y
#$ -N thygan-generate
#$ -pe smp 8
#$ -l h_vmem=11G
#$ -l h_rt=2:0:0
#$ -l gpu=1
#$ -m bea
#$ -M your.name@example.org

set -e
# ---- settings: edit here, or override at submission (qsub -v NETWORK=...,CLASS=...) ------------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                  # the thygan checkout (-cwd: where qsub ran)
NETWORK=${NETWORK:-models/gan_mc.safetensors}   # a network-snapshot-*.safetensors, or a .pkl
SEEDS=${SEEDS:-0-999}                           # inclusive: 0-999 is 1000 images
CLASS=${CLASS:-0}                               # index, name, comma list or `all`
OUTDIR=${OUTDIR:-generated/class$CLASS}         # CLASS=all: one sub-folder per class
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"

python generate.py --network="$NETWORK" --seeds="$SEEDS" --class="$CLASS" --outdir="$OUTDIR"

deactivate
