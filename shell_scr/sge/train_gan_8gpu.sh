#!/bin/bash
# train_gan.sh on 8 GPUs: the same settings (edit them there), other resources.
#
# ---- scheduler: put your e-mail address; 8 cores per GPU; h_vmem is per core -------------------------
#$ -cwd
#$ -j y
#$ -N thygan-gan
#$ -pe smp 64
#$ -l h_vmem=11G
#$ -l h_rt=240:0:0
#$ -l gpu=8
#$ -m bea
#$ -M your.name@example.org

set -e
GPUS=8
source "${THYGAN_DIR:-$PWD}/shell_scr/sge/train_gan.sh"
