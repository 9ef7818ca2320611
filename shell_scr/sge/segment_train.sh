#!/bin/bash
# Train HoVer-Net nucleus segmentation (`thygan segment train`, the reference's two phases) on 4 GPUs:
# one torchrun process per GPU, the global --batch split over them; the settings and what runs are in
# shell_scr/segment_train_job.sh. Submit from the thygan checkout:
# `qsub shell_scr/sge/segment_train.sh`. Re-submitting continues the newest run under OUTDIR from
# its latest snapshot (its own options.json), or says there is nothing to do once all epochs ran.
# More nodes: a parallel environment that hands out whole hosts in place of smp (shell_scr/nodes.sh).
#
# ---- scheduler: put your e-mail address; 8 cores per GPU; h_vmem is per core -------------------------
#$ -cwd
#$ -j y
#$ -N thygan-segment
#$ -pe smp 32
#$ -l h_vmem=2G
#$ -l h_rt=24:0:0
#$ -l gpu=4
#$ -m bea
#$ -M your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}              # the thygan checkout (-cwd: where qsub ran)
GPUS=${GPUS:-4}                             # torchrun processes per node; must equal `-l gpu`
source "$THYGAN_DIR/shell_scr/segment_train_job.sh"
