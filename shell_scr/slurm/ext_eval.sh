#!/bin/bash
# Evaluate a trained classifier on the external cohort (Nikiforov + TCGA-THCA in the study) at patient
# level with dlc_eval.py. Submit from the thygan checkout: `sbatch shell_scr/slurm/ext_eval.sh`.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-ext-eval
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=2:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (MODEL=... RUN_ID=... sbatch ...) ----------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                      # the thygan checkout (where sbatch ran)
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
