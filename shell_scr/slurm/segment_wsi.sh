#!/bin/bash
# Whole-slide nucleus segmentation (`thygan segment infer wsi`) as an array job: task t segments the
# t-th slide of the list file SLIDES (one slide path per line; blank and # lines skipped). Submit from
# the thygan checkout, one task per slide (the array directive below is only a default):
#   n=$(grep -cv -e '^[[:space:]]*$' -e '^[[:space:]]*#' slides.txt)
#   sbatch --array=1-$n shell_scr/slurm/segment_wsi.sh
# A re-submitted task resumes its slide from the chunks already done.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-segment-wsi
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --array=1-10
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=12:00:00
#SBATCH --output=%x-%A_%a.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (where sbatch ran)
TASK=${TASK:-$SLURM_ARRAY_TASK_ID}  # --array=1-N: task t is the t-th slide
source "$THYGAN_DIR/shell_scr/segment_wsi_job.sh"
