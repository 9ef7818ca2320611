#!/bin/bash
# Whole-slide nucleus segmentation (`thygan segment infer wsi`) as an array job: task t segments the
# t-th slide of the list file SLIDES (one slide path per line; blank and # lines skipped). Submit from
# the thygan checkout, one task per slide (the array directive below is only a default):
#   n=$(grep -cv -e '^[[:space:]]*$' -e '^[[:space:]]*#' slides.txt)
#   qsub -t 1-$n shell_scr/sge/segment_wsi.sh
# A re-submitted task resumes its slide from the chunks already done.
#
# ---- scheduler: put your e-mail address; h_vmem is per core ------------------------------------------
#$ -cwd
#$ -j y
#$ -N thygan-segment-wsi
#$ -t 1-10
#$ -pe smp 8
#$ -l h_vmem=11G
#$ -l h_rt=12:0:0
#$ -l gpu=1
#$ -m bea
#$ -M your.name@example.org

set -e
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (-cwd: where qsub ran)
TASK=${TASK:-$SGE_TASK_ID}  # SGE numbers tasks from 1: task 1 is the first slide
source "$THYGAN_DIR/shell_scr/segment_wsi_job.sh"
