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
# ---- settings: edit here, or override at submission (qsub -v SLIDES=...,MODEL=...) -------------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (-cwd: where qsub ran)
SLIDES=${SLIDES:-slides.txt}                   # a list file: one slide path per line (blank lines, # ignored)
MODEL=${MODEL:-models/hovernet_fast_pannuke_type_tf2pytorch.tar}  # or a hovernet-snapshot-*.safetensors
OUTPUT_DIR=${OUTPUT_DIR:-segmented}            # json/ geojson/ qupath/ cache/ of every slide
MAGNIFICATION=${MAGNIFICATION:-40}             # objective power to tile at
BATCH_SIZE=${BATCH_SIZE:-8}                    # windows per forward pass
# -------------------------------------------------------------------------------------------------------

TASK=${TASK:-$SGE_TASK_ID}  # SGE numbers tasks from 1: task 1 is the first slide
if ! [[ $TASK =~ ^[0-9]+$ ]] || ((TASK < 1)); then
    echo "error: no slide number: submit as an array job or set TASK (1 = the first slide of $SLIDES)" >&2
    exit 2
fi
if [ ! -f "$SLIDES" ]; then
    echo "error: $SLIDES: no such slide list (SLIDES: one slide path per line)" >&2
    exit 2
fi
SLIDE=$(grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$SLIDES" | sed -n "${TASK}p")
if [ -z "$SLIDE" ]; then
    echo "error: $SLIDES lists fewer than $TASK slides; nothing for task $TASK" >&2
    exit 2
fi

source "$THYGAN_DIR/shell_scr/env.sh"

echo "task $TASK: $SLIDE"
# Re-running resumes from the finished chunks in OUTPUT_DIR/cache/.
thygan segment infer wsi --model="$MODEL" --input="$SLIDE" --output-dir="$OUTPUT_DIR" \
    --magnification="$MAGNIFICATION" --batch-size="$BATCH_SIZE" --device=cuda --save-thumb

deactivate
