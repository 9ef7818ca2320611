#!/bin/bash
# Evaluate a trained classifier on the external cohort (Nikiforov + TCGA-THCA in the study) at patient
# level with dlc_eval.py. Submit from the thygan checkout: `qsub shell_scr/sge/ext_eval.sh`.
#
# ---- scheduler: put your e-mail address; h_vmem is per core ------------------------------------------
#$ -cwd
#$ -j y
#$ -N thygan-ext-eval
#$ -pe smp 8
#$ -l h_vmem=11G
#$ -l h_rt=2:0:0
#$ -l gpu=1
#$ -m bea
#$ -M your.name@example.org

set -e
# ---- settings: edit here, or override at submission (qsub -v MODEL=...,RUN_ID=...) -------------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                      # the thygan checkout (-cwd: where qsub ran)
SRC_DIR=${SRC_DIR:-all_imgs/External/}              # the external images
LABELS=${LABELS:-data/labels/ext_dataset.json}      # their labels with patients and diagnoses ("meta")
SPLIT=${SPLIT:-data/labels/ext_test_fnames.json}    # the "test" list evaluated
MODEL=${MODEL:-logs/000-full4_mc100}                # a dlc_main.py run folder, or a model file (.safetensors/.pth)
OUT_DIR=${OUT_DIR:-logs}                            # results go to OUT_DIR/NNN-RUN_ID
RUN_ID=${RUN_ID:-ext_mc100}
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"
source "$THYGAN_DIR/shell_scr/runs.sh"

model=$MODEL
if [ -d "$MODEL" ]; then
    model=$(dlc_run_model "$MODEL")
    if [ -z "$model" ]; then
        echo "error: $MODEL holds no vl_*.safetensors (an unfinished dlc_main.py run?)" >&2
        exit 2
    fi
fi

python dlc_eval.py --src_dir="$SRC_DIR" --labels="$LABELS" --out_dir="$OUT_DIR" --split_file="$SPLIT" \
    --run_id="$RUN_ID" --mdl_loc="$model"

deactivate
