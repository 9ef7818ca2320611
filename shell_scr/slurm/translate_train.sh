#!/bin/bash
# Train CycleGAN or pix2pix (`thygan translate train`) on 1 GPU. Submit from the thygan checkout:
# `sbatch shell_scr/slurm/translate_train.sh`; pix2pix masks -> H&E:
# `MODEL=pix2pix DATASET_MODE=paired MASK_TYPES=5 DATAROOT=datasets/masks2he sbatch shell_scr/slurm/translate_train.sh`.
# Re-submitting continues the newest run under OUTDIR from its latest snapshot (its own options.json),
# or says there is nothing to do once all epochs ran.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-translate
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=72:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (where sbatch ran)
source "$THYGAN_DIR/shell_scr/translate_train_job.sh"
