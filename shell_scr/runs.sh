#!/bin/bash
# Find what earlier jobs left behind, so that a re-submitted job continues instead of starting over.
# Sourced by the job scripts; each function prints a path or number (nothing if there is none).

# newest_gan_run OUTDIR [PREFIX]: the newest run folder under OUTDIR that holds a snapshot PREFIX-*.json
# (default network-snapshot: train.py; hovernet-snapshot: thygan segment train).
# Run folders are NNNNN-<desc> (five digits), so name order is age order.
newest_gan_run() {
    local run newest="" prefix=${2:-network-snapshot}
    for run in "$1"/[0-9][0-9][0-9][0-9][0-9]-*/; do
        if compgen -G "${run}${prefix}-*.json" >/dev/null; then
            newest=${run%/}
        fi
    done
    echo "$newest"
}

# snapshot_kimg RUN_DIR [PREFIX]: index (kimg, or epoch for hovernet-snapshot) of the newest snapshot
# PREFIX-NNNNNN.json in a run folder (-1 if none).
# A snapshot is complete once its JSON is written, as train.py --resume reads it.
snapshot_kimg() {
    local snap n kimg=-1 prefix=${2:-network-snapshot}
    for snap in "$1"/"$prefix"-*.json; do
        n=${snap##*/"$prefix"-}
        n=${n%.json}
        if [[ $n =~ ^[0-9]+$ ]] && ((10#$n > kimg)); then
            kimg=$((10#$n))
        fi
    done
    echo "$kimg"
}

# dlc_run_model RUN_DIR: the model file (vl_*.safetensors) in a dlc_main.py run folder. Only the best is
# kept; were there several, the lowest validation loss sorts first.
dlc_run_model() {
    local model
    for model in "$1"/vl_*.safetensors; do
        if [ -f "$model" ]; then
            echo "$model"
        fi
        return 0
    done
}

# best_dlc_model OUT_DIR RUN_ID: the model of the newest finished dlc_main.py run OUT_DIR/NNN-RUN_ID.
# A run is finished once it wrote training_results.json; an unfinished one is what dlc_main.py resumes
# when the same command runs again.
best_dlc_model() {
    local dir name number model best="" best_number=-1
    for dir in "$1"/*-"$2"; do
        name=${dir##*/}
        number=${name%-"$2"}
        [[ $number =~ ^[0-9]+$ ]] && [ -f "$dir/training_results.json" ] || continue
        model=$(dlc_run_model "$dir")
        if [ -n "$model" ] && ((10#$number > best_number)); then
            best=$model
            best_number=$((10#$number))
        fi
    done
    echo "$best"
}
