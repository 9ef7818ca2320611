#!/bin/bash
# The whole study as one job: `thygan pipeline` runs every step of a config (tiles, splits, GAN
# training, FID, classifier comparison, domain gap, REPORT.md). Re-submitting reuses the finished steps
# and continues an interrupted one. The GAN step trains on the config's `gan: gpus:` (4 in
# thyroid.yaml): request as many GPUs below. Check a config on a login node first with
# `thygan pipeline --config=... -n`. Submit from the thygan checkout: `qsub shell_scr/sge/pipeline.sh`.
#
# ---- scheduler: put your e-mail address; h_vmem is per core ------------------------------------------
#$ -cwd
#$ -j y
#$ -N thygan-pipeline
#$ -pe smp 32
#$ -l h_vmem=11G
#$ -l h_rt=240:0:0
#$ -l gpu=4
#$ -m bea
#$ -M your.name@example.org

set -e
# ---- settings: edit here, or override at submission (qsub -v CONFIG=...,ONLY=...) --------------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                      # the thygan checkout (-cwd: where qsub ran)
CONFIG=${CONFIG:-data/pipelines/thyroid.yaml}       # the steps and their options
OUTDIR=${OUTDIR:-}                                  # where results go; empty = the config's outdir
ONLY=${ONLY:-}                                      # run only these steps (comma list); empty = all
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"

thygan pipeline --config="$CONFIG" ${OUTDIR:+--outdir="$OUTDIR"} ${ONLY:+--only="$ONLY"}

deactivate
