#!/bin/bash
# The job's nodes, and one torchrun launcher on each of them. Sourced by the training job scripts.
# On one node torchrun runs `--standalone` (it picks a free port). On several (SLURM `--nodes=N`, or an
# SGE parallel environment spanning hosts) every node runs one launcher with GPUS processes, and the
# launchers meet in a c10d rendezvous on the first node: one process group of NODES x GPUS processes,
# one gradient average, the same minibatch as on one node. The nodes must share the checkout, the
# virtualenv and the output folders (a shared file system, as clusters have).

# job_nodes: the job's hosts, one per line, the first one hosting the rendezvous. SLURM: its node list
# expanded by scontrol. SGE: $PE_HOSTFILE, one line per host (name, slots, queue, processors).
# Neither: this host alone.
job_nodes() {
    if [ -n "$SLURM_JOB_NODELIST" ]; then
        scontrol show hostnames "$SLURM_JOB_NODELIST"
    elif [ -n "$PE_HOSTFILE" ] && [ -f "$PE_HOSTFILE" ]; then
        awk 'NF { print $1 }' "$PE_HOSTFILE"
    else
        hostname
    fi
}

# job_node_count: how many hosts job_nodes lists.
job_node_count() {
    job_nodes | wc -l | tr -d ' '
}

# torchrun_on_nodes GPUS SCRIPT ARGS...: python SCRIPT ARGS under torchrun, GPUS processes per node on
# every node of the job; returns when all have ended, non-zero if any failed.
torchrun_on_nodes() {
    local gpus=$1
    shift
    local nodes
    mapfile -t nodes < <(job_nodes)
    if ((${#nodes[@]} <= 1)); then
        torchrun --standalone --nproc_per_node="$gpus" "$@"
        return
    fi
    # The job id names the rendezvous and offsets its port, so jobs sharing a head node do not meet.
    local job=${SLURM_JOB_ID:-${JOB_ID:-0}}
    local port=${RDZV_PORT:-$((29400 + job % 1000))}
    local rdzv=(--nnodes="${#nodes[@]}" --nproc_per_node="$gpus" --rdzv_backend=c10d
                --rdzv_endpoint="${nodes[0]}:$port" --rdzv_id="thygan-$job")
    echo "torchrun on ${#nodes[@]} nodes (${nodes[*]}), $gpus processes each, rendezvous at ${nodes[0]}:$port"
    if [ -n "$SLURM_JOB_NODELIST" ]; then
        # one task per node; srun passes on this shell's environment (the activated virtualenv)
        srun --nodes="${#nodes[@]}" --ntasks="${#nodes[@]}" --ntasks-per-node=1 torchrun "${rdzv[@]}" "$@"
        return
    fi
    # SGE: `qrsh -inherit` starts a command on another host of the job (tight integration). It gets a
    # fresh shell, so it runs a small script beside the checkout that sets up as this job did.
    local node_script status=0 pid pids=() host
    node_script=$(mktemp "$THYGAN_DIR/.thygan-node-XXXXXX.sh")
    {
        echo "set -e"
        local var
        for var in THYGAN_DIR MODULES PYTHON VENV TORCH_SPEC; do
            printf 'export %s=%q\n' "$var" "${!var}"
        done
        echo 'source "$THYGAN_DIR/shell_scr/env.sh" >/dev/null'
        printf 'exec'
        printf ' %q' torchrun "${rdzv[@]}" "$@"
        echo
    } >"$node_script"
    for host in "${nodes[@]:1}"; do
        qrsh -inherit -nostdin "$host" bash "$node_script" &
        pids+=($!)
    done
    torchrun "${rdzv[@]}" "$@" &
    pids+=($!)
    for pid in "${pids[@]}"; do
        wait "$pid" || status=$?
    done
    rm -f "$node_script"
    return "$status"
}
