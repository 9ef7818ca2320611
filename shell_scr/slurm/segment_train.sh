#!/bin/bash
# Train HoVer-Net nucleus segmentation (`thygan segment train`, the reference's two phases) on 4 GPUs:
# one torchrun process per GPU, the global --batch split over them; the settings and what runs are in
# shell_scr/segment_train_job.sh. Submit from the thygan checkout:
# `sbatch shell_scr/slurm/segment_train.sh`. Re-submitting continues the newest run under OUTDIR from
# its latest snapshot (its own options.json), or says there is nothing to do once all epochs ran.
# More nodes: `sbatch --nodes=2 shell_scr/slurm/segment_train.sh` (shell_scr/nodes.sh).
#
# ---- scheduler: put your partition and e-mail address; 8 cores per GPU -------------------------------
#SBATCH --job-name=thygan-segment
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=32
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}              # the thygan checkout (where sbatch ran)
GPUS=${GPUS:-4}                             # torchrun processes per node; must equal --gres=gpu:N
source "$THYGAN_DIR/shell_scr/segment_train_job.sh"
