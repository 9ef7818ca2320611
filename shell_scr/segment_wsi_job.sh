#!/bin/bash
# The body of shell_scr/slurm/segment_wsi.sh and shell_scr/sge/segment_wsi.sh (they hold the scheduler's
# resources, THYGAN_DIR and TASK, the array task's number, then source this): `thygan segment infer wsi`
# on the TASK-th slide of the list file SLIDES (1 = the first; blank and # lines skipped).

# ---- settings: edit here, or override at submission (SLIDES=... sbatch ..., qsub -v SLIDES=...) ------
SLIDES=${SLIDES:-slides.txt}                   # a list file: one slide path per line (blank lines, # ignored)
MODEL=${MODEL:-models/hovernet_fast_pannuke_type_tf2pytorch.tar}  # or a hovernet-snapshot-*.safetensors
OUTPUT_DIR=${OUTPUT_DIR:-segmented}            # json/ geojson/ qupath/ cache/ of every slide
MAGNIFICATION=${MAGNIFICATION:-40}             # objective power to tile at
BATCH_SIZE=${BATCH_SIZE:-8}                    # windows per forward pass
# -------------------------------------------------------------------------------------------------------

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
