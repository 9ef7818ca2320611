#!/bin/bash
# Whole-slide nucleus segmentation (`thygan segment infer wsi`) as an array job: task t segments the
# t-th slide of the list file SLIDES (one slide path per line; blank and # lines skipped). Submit from
# the thygan checkout, one task per slide (the array directive below is only a default):
#   n=$(grep -cv -e '^[[:space:]]*$' -e '^[[:space:]]*#' slides.txt)
#   sbatch --array=1-$n shell_scr/slurm/segment_wsi.sh
# A re-submitted task resumes its slide from the chunks already done.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-segment-wsi
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --array=1-10
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=12:00:00
#SBATCH --output=%x-%A_%a.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (SLIDES=... MODEL=... sbatch ...) ----------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                 # the thygan checkout (where sbatch ran)
SLIDES=${SLIDES:-slides.txt}                   # a list file: one slide path per line (blank lines, # ignored)
MODEL=${MODEL:-models/hovernet_fast_pannuke_type_tf2pytorch.tar}  # or a hovernet-snapshot-*.safetensors
OUTPUT_DIR=${OUTPUT_DIR:-segmented}            # json/ geojson/ qupath/ cache/ of every slide
MAGNIFICATION=${MAGNIFICATION:-40}             # objective power to tile at
BATCH_SIZE=${BATCH_SIZE:-8}                    # windows per forward pass
# -------------------------------------------------------------------------------------------------------

TASK=${TASK:-$SLURM_ARRAY_TASK_ID}  # --array=1-N: task t is the t-th slide
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
