#!/bin/bash
# The body of shell_scr/slurm/segment_train.sh and shell_scr/sge/segment_train.sh (they hold the
# scheduler's resources, THYGAN_DIR and GPUS, then source this): `thygan segment train` under torchrun,
# one process per GPU, the global --batch split over them. A job submitted again continues the newest run
# under OUTDIR from its latest snapshot (with the run's own options.json), or stops once all epochs ran.

# ---- settings: edit here, or override at submission (DATA=... sbatch ..., qsub -v DATA=...) ----------
DATA=${DATA:-datasets/CoNSeP/Train}         # Images/ + Labels/, hover_net .npy patches or a PanNuke fold
VALID=${VALID:-datasets/CoNSeP/Test}        # scored every epoch (PQ, AJI, Dice)
OUTDIR=${OUTDIR:-training-runs/hovernet}    # one folder per experiment: its newest run is resumed
MODE=${MODE:-original}                      # original (270 -> 80 px) or fast (256 -> 164 px)
NR_TYPES=${NR_TYPES:-5}                     # nucleus types incl. background (CoNSeP merged: 5, PanNuke: 6)
TYPE_MAP=${TYPE_MAP:-consep}                # type-id renumbering on reading
EPOCHS=${EPOCHS:-50,50}                     # phase 1 (encoder frozen), phase 2
BATCH=${BATCH:-16,4}                        # global batch per phase: a multiple of all processes
PRETRAINED=${PRETRAINED:-}                  # ImageNet-ResNet50-Preact_pytorch.tar, or empty
WORKERS=${WORKERS:-4}                       # data loader processes per GPU
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"
source "$THYGAN_DIR/shell_scr/runs.sh"
source "$THYGAN_DIR/shell_scr/nodes.sh"

resume=$(newest_gan_run "$OUTDIR" hovernet-snapshot)
if [ -n "$resume" ]; then
    done_epochs=$(snapshot_kimg "$resume" hovernet-snapshot)
    epochs=$(tr -d ' \n' <"$resume/options.json" | grep -o '"epochs":\[[0-9]*,[0-9]*\]' | tr -dc '0-9,')
    total=$((${epochs%,*} + ${epochs#*,}))  # the run's own phase 1 + phase 2 epochs
    if ((done_epochs >= total)); then
        echo "$resume already ran $done_epochs of $total epochs; nothing to do"
        exit 0
    fi
    echo "resuming $resume after epoch $done_epochs"
    torchrun_on_nodes "$GPUS" -m thygan segment train --resume="$resume"
else
    torchrun_on_nodes "$GPUS" -m thygan segment train --data="$DATA" --valid="$VALID" --outdir="$OUTDIR" \
        --mode="$MODE" --nr-types="$NR_TYPES" --type-map="$TYPE_MAP" --epochs="$EPOCHS" --batch="$BATCH" \
        --workers="$WORKERS" --device=cuda ${PRETRAINED:+--pretrained="$PRETRAINED"}
fi

deactivate
