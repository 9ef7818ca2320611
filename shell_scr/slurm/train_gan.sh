#!/bin/bash
# Train the conditional StyleGAN2-ADA of the thyroid study (paper512, 25000 kimg) on 4 GPUs: one
# torchrun process per GPU. Submit from the thygan checkout: `sbatch shell_scr/slurm/train_gan.sh`.
# Re-submitting continues the newest run under OUTDIR from its latest snapshot: 25000 kimg take about
# 7.5 days on 4 GPUs, so with a shorter time limit submit it again after each job.
# train_gan_1gpu.sh and train_gan_8gpu.sh run this script with other resources. More nodes:
# `sbatch --nodes=2 shell_scr/slurm/train_gan.sh` (GPUS, --gres, --cpus-per-task and --mem are per
# node): one torchrun launcher per node, joined by a c10d rendezvous (shell_scr/nodes.sh).
#
# ---- scheduler: put your partition and e-mail address; 8 cores per GPU -------------------------------
#SBATCH --job-name=thygan-gan
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=32
#SBATCH --mem=64G
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=your.name@example.org

set -e
# ---- settings: edit here, or override at submission (DATA=... OUTDIR=... sbatch ...) -----------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}              # the thygan checkout (where sbatch ran)
GPUS=${GPUS:-4}                             # torchrun processes per node; must equal --gres=gpu:N
DATA=${DATA:-datasets/tt_mc_512.zip}        # dataset_tool.py output with its dataset.json labels
OUTDIR=${OUTDIR:-training-runs/gan_mc}      # one folder per experiment: its newest run is resumed
CFG=${CFG:-paper512}                        # train.py --cfg preset
KIMG=${KIMG:-25000}                         # total length of the training, over all re-submissions
SNAP=${SNAP:-50}                            # snapshot every SNAP ticks of 4 kimg
METRICS=${METRICS:-fid50k_full}             # at every snapshot (the lowest FID picks the network); none = skip
# -------------------------------------------------------------------------------------------------------

source "$THYGAN_DIR/shell_scr/env.sh"
source "$THYGAN_DIR/shell_scr/runs.sh"
source "$THYGAN_DIR/shell_scr/nodes.sh"

resume=$(newest_gan_run "$OUTDIR")
if [ -n "$resume" ]; then
    done_kimg=$(snapshot_kimg "$resume")
    if ((done_kimg >= KIMG)); then
        echo "$resume already reached kimg $done_kimg of $KIMG; nothing to do"
        exit 0
    fi
    echo "resuming $resume from its snapshot at kimg $done_kimg"
fi

NODES=$(job_node_count)
torchrun_on_nodes "$GPUS" train.py --outdir="$OUTDIR" --gpus="$((NODES * GPUS))" \
    --data="$DATA" --cfg="$CFG" --cond=1 --mirror=1 --kimg="$KIMG" --snap="$SNAP" \
    --metrics="$METRICS" ${resume:+--resume="$resume"}

deactivate
