#!/bin/bash
# train_gan.sh on 1 GPU: the same settings (edit them there), other resources. At about four times the
# study's 4-GPU time, 25000 kimg take about a month: re-submit after each 240-hour job to continue the run.
#
# ---- scheduler: put your e-mail address; 8 cores per GPU; h_vmem is per core -------------------------
#$ -cwd
#$ -j y
#$ -N thygan-gan
#$ -pe smp 8
#$ -l h_vmem=11G
#$ -l h_rt=240:0:0
#$ -l gpu=1
#$ -m bea
#$ -M your.name@example.org

set -e
GPUS=1
source "${THYGAN_DIR:-$PWD}/shell_scr/sge/train_gan.sh"
