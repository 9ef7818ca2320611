#!/bin/bash
# Train the conditional StyleGAN2-ADA of the thyroid study (paper512, 25000 kimg) on 4 GPUs: one
# torchrun process per GPU. Submit from the thygan checkout: `qsub shell_scr/sge/train_gan.sh`.
# Re-submitting continues the newest run under OUTDIR from its latest snapshot.
# train_gan_1gpu.sh and train_gan_8gpu.sh run this script with other resources. More nodes: a
# parallel environment that hands out whole hosts (your site names it; it needs control_slaves
# for qrsh -inherit) in place of smp, e.g. `qsub -pe <pe> 64` for two hosts of 32 cores: one
# torchrun launcher per host of $PE_HOSTFILE, joined by a c10d rendezvous (shell_scr/nodes.sh).
#
# ---- scheduler: put your e-mail address; 8 cores per GPU; h_vmem is per core -------------------------
#$ -cwd
#$ -j y
#$ -N thygan-gan
#$ -pe smp 32
#$ -l h_vmem=11G
#$ -l h_rt=240:0:0
#$ -l gpu=4
#$ -m bea
#$ -M your.name@example.org

set -e
# ---- settings: edit here, or override at submission (qsub -v DATA=...,OUTDIR=...) ---------------------
THYGAN_DIR=${THYGAN_DIR:-$PWD}              # the thygan checkout (-cwd: where qsub ran)
GPUS=${GPUS:-4}                             # torchrun processes per node; must equal `-l gpu`
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
