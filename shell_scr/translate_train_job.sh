#!/bin/bash
# The body of shell_scr/slurm/translate_train.sh and shell_scr/sge/translate_train.sh (they hold the
# scheduler's resources and THYGAN_DIR, then source this): `thygan translate train` on one GPU. A job
# submitted again continues the newest run under OUTDIR from its latest snapshot (with the run's own
# options.json), or stops once all its epochs ran.

# ---- settings: edit here, or override at submission (DATAROOT=... sbatch ..., qsub -v DATAROOT=...) --
DATAROOT=${DATAROOT:-datasets/ihc2he}          # trainA/ trainB/ (cycle_gan) or A/ B/ (pix2pix, paired)
NAME=${NAME:-ihc2he}                           # run folder description
OUTDIR=${OUTDIR:-training-runs/translate}      # one folder per experiment: its newest run is resumed
MODEL=${MODEL:-cycle_gan}                      # cycle_gan or pix2pix
DATASET_MODE=${DATASET_MODE:-unaligned}        # unaligned (cycle_gan), aligned or paired (pix2pix)
MASK_TYPES=${MASK_TYPES:-0}                    # pix2pix mask -> H&E: nucleus types of the A masks; 0: images
N_EPOCHS=${N_EPOCHS:-100}                      # epochs at the initial learning rate
N_EPOCHS_DECAY=${N_EPOCHS_DECAY:-100}          # then epochs of linear decay to zero
BATCH_SIZE=${BATCH_SIZE:-1}                    # the reference's
WORKERS=${WORKERS:-4}                          # data loader processes
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"
source "$THYGAN_DIR/shell_scr/runs.sh"

resume=$(newest_gan_run "$OUTDIR" translate-snapshot)
if [ -n "$resume" ]; then
    done_epochs=$(snapshot_kimg "$resume" translate-snapshot)
    options=$(tr -d ' \n' <"$resume/options.json")
    n_epochs=$(grep -o '"n_epochs":[0-9]*' <<<"$options" | tr -dc '0-9')
    n_decay=$(grep -o '"n_epochs_decay":[0-9]*' <<<"$options" | tr -dc '0-9')
    total=$((n_epochs + n_decay))  # the run's own schedule
    if ((done_epochs >= total)); then
        echo "$resume already ran $done_epochs of $total epochs; nothing to do"
        exit 0
    fi
    echo "resuming $resume after epoch $done_epochs"
    thygan translate train --resume="$resume"
else
    thygan translate train --dataroot="$DATAROOT" --name="$NAME" --outdir="$OUTDIR" --model="$MODEL" \
        --dataset_mode="$DATASET_MODE" --mask_types="$MASK_TYPES" --n_epochs="$N_EPOCHS" \
        --n_epochs_decay="$N_EPOCHS_DECAY" --batch_size="$BATCH_SIZE" --num_threads="$WORKERS" --device=cuda
fi

deactivate
