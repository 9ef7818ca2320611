#!/bin/bash
# The whole study as one job: `thygan pipeline` runs every step of a config (tiles, splits, GAN
# training, FID, classifier comparison, domain gap, REPORT.md). Re-submitting reuses the finished steps
# and continues an interrupted one. The GAN step trains on the config's `gan: gpus:` (4 in
# thyroid.yaml): request as many GPUs below. Check a config on a login node first with
# `thygan pipeline --config=... -n`. Submit from the thygan checkout: `sbatch shell_scr/slurm/pipeline.sh`.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-pipeline
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=32
#SBATCH --mem=64G
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (CONFIG=... ONLY=... sbatch ...) -----------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                      # the thygan checkout (where sbatch ran)
CONFIG=${CONFIG:-data/pipelines/thyroid.yaml}       # the steps and their options
OUTDIR=${OUTDIR:-}                                  # where results go; empty = the config's outdir
ONLY=${ONLY:-}                                      # run only these steps (comma list); empty = all
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"

thygan pipeline --config="$CONFIG" ${OUTDIR:+--outdir="$OUTDIR"} ${ONLY:+--only="$ONLY"}

deactivate
