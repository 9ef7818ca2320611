#!/bin/bash
# train_gan.sh on 8 GPUs: the same settings (edit them there), other resources.
#
# ---- scheduler: put your partition and e-mail address; 8 cores per GPU -------------------------------
#SBATCH --job-name=thygan-gan
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=64
#SBATCH --mem=128G
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
GPUS=8
source "${THYGAN_DIR:-$PWD}/shell_scr/slurm/train_gan.sh"
