#!/bin/bash
# The study's cross-validation, one array task per fold: task k trains the classifier of fold k on
# its real images plus a gan_params recipe's synthetic ones (dlc_main.py), then evaluates the best
# model on the fold's test patients (dlc_eval.py). Submit from the thygan checkout:
# `sbatch shell_scr/slurm/dlc_folds.sh` (all folds) or `sbatch --array=2 shell_scr/slurm/dlc_folds.sh` (fold 2).
# Re-submitting resumes an interrupted training and re-uses a finished one. A fold on several GPUs
# or nodes: GPUS=N with --gres=gpu:N (and --cpus-per-task), --nodes=M; one torchrun launcher per
# node (shell_scr/nodes.sh), DDP over all of them.
#
# ---- scheduler: put your partition and e-mail address -----------------------------------------------
#SBATCH --job-name=thygan-dlc
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --array=0-4
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=40:00:00
#SBATCH --output=%x-%A_%a.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (RECIPE=... RECIPE_NAME=... sbatch ...) ----------
THYGAN_DIR=${THYGAN_DIR:-$PWD}                          # the thygan checkout (where sbatch ran)
GPUS=${GPUS:-1}                                         # dlc_main.py processes per node; must equal --gres=gpu:N
SRC_DIR=${SRC_DIR:-all_imgs/TharunThompson/}            # the images named in LABELS
LABELS=${LABELS:-data/labels/bi_dataset.json}           # labels with patients and diagnoses ("meta")
SPLITS=${SPLITS:-data}                                  # what `thygan splits --dest` wrote (cv_splits/...)
RECIPE=${RECIPE:-data/gan_params/cv_mc100.json}         # gan_params recipe; None = real images only
RECIPE_NAME=${RECIPE_NAME:-mc100}                       # runs are named cv{fold}_RECIPE_NAME
GAN_NETWORK=${GAN_NETWORK:-models/gan_mc.safetensors}   # the generator, instead of the recipe's "network"
OUT_DIR=${OUT_DIR:-logs}                                # runs go to OUT_DIR/NNN-cv{fold}_RECIPE_NAME
BATCH_SIZE=${BATCH_SIZE:-64}
LR=${LR:-1e-3}
# -------------------------------------------------------------------------------------------------------

FOLD=${FOLD:-$SLURM_ARRAY_TASK_ID}  # --array=0-4: task k is fold k
if ! [[ $FOLD =~ ^[0-9]+$ ]]; then
    echo "error: no fold: submit as an array job (--array) or set FOLD" >&2
    exit 2
fi
RUN_ID=cv${FOLD}_$RECIPE_NAME
SPLIT=$SPLITS/cv_splits/cv${FOLD}_splits/cv_split_${FOLD}_0.json

source "$THYGAN_DIR/shell_scr/env.sh"
source "$THYGAN_DIR/shell_scr/runs.sh"
source "$THYGAN_DIR/shell_scr/nodes.sh"

model=$(best_dlc_model "$OUT_DIR" "$RUN_ID")
if [ -n "$model" ]; then
    echo "fold $FOLD was trained already: $model"
else
    torchrun_on_nodes "$GPUS" dlc_main.py --src_dir="$SRC_DIR" --labels="$LABELS" --out_dir="$OUT_DIR" \
        --split_file="$SPLIT" --run_id="$RUN_ID" --batch_size="$BATCH_SIZE" --lr="$LR" --gan_params="$RECIPE" \
        --gan_network="$GAN_NETWORK"
    model=$(best_dlc_model "$OUT_DIR" "$RUN_ID")
fi
if [ -z "$model" ]; then
    echo "error: no finished run $OUT_DIR/NNN-$RUN_ID with a model; re-submit to resume the training" >&2
    exit 1
fi

python dlc_eval.py --src_dir="$SRC_DIR" --labels="$LABELS" --out_dir="$OUT_DIR" --split_file="$SPLIT" \
    --run_id="${RUN_ID}_test" --mdl_loc="$model"

deactivate
