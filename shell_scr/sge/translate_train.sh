#!/bin/bash
# Train CycleGAN or pix2pix (`thygan translate train`) on 1 GPU. Submit from the thygan checkout:
# `qsub shell_scr/sge/translate_train.sh`; pix2pix masks -> H&E:
# `qsub -v MODEL=pix2pix,DATASET_MODE=paired,MASK_TYPES=5,DATAROOT=datasets/masks2he shell_scr/sge/translate_train.sh`.
# Re-submitting continues the newest run under OUTDIR from its latest snapshot (its own options.json),
# or says there is nothing to do once all epochs ran.
#
# ---- scheduler: put your e-mail address; h_vmem is per core ------------------------------------------
#$ -cwd
#$ -j y
#$ -N thygan-translate
#$ -pe smp 8
#$ -l h_vmem=11G
#$ -l h_rt=72:0:0
#$ -l gpu=1
#$ -m bea
#$ -M your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (-cwd: where qsub ran)
source "$THYGAN_DIR/shell_scr/translate_train_job.sh"
