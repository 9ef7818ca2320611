#!/bin/bash
# train_gan.sh on 1 GPU: the same settings (edit them there), other resources. At about four times the
# study's 4-GPU time, 25000 kimg take about a month: re-submit after each job to continue the run.
#
# ---- scheduler: put your partition and e-mail address; 8 cores per GPU -------------------------------
#SBATCH --job-name=thygan-gan
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
GPUS=1
source "${THYGAN_DIR:-$PWD}/shell_scr/slurm/train_gan.sh"
