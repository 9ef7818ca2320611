"""Past one machine (shell_scr/nodes.sh): the job scripts start one torchrun launcher per node of the
scheduler's node list, joined by a c10d rendezvous on the first node; and two such "nodes" on this
machine (the real SLURM script, real torchrun, gloo) train exactly what one process trains."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.classify.conftest import sample_splits, sample_tiles, split_file  # noqa: F401
from tests.classify.test_ddp import assert_two_processes_validate_like_one
from tests.shell_scr.test_job_scripts import LOGGER, REPO, SHELL_SCR, ready_venv, run, sandbox  # noqa: F401
from tests.stylegan.conftest import write_tiny_dataset
from thygan.classify.options import TrainOptions
from thygan.io.checkpoint import load_checkpoint
from thygan.runs import latest_snapshot
from thygan.stylegan import networks  # noqa: F401  (registers G and D for load_checkpoint)

# scontrol stand-in: `scontrol show hostnames LIST` prints $FAKE_NODES, one per line.
FAKE_SCONTROL = '#!/bin/bash\n[ "$1 $2" = "show hostnames" ] && printf "%s\\n" $FAKE_NODES\n'
# qrsh stand-in: logs, then runs the command locally (`qrsh -inherit -nostdin HOST CMD...`).
FAKE_QRSH = LOGGER + 'shift 3\nexec "$@"\n'
# srun stand-in: logs, then runs the command once per task, all at once, like one task per node.
FAKE_SRUN = LOGGER + """tasks=1
while [[ $1 == --* ]]; do
    [[ $1 == --ntasks=* ]] && tasks=${1#--ntasks=}
    shift
done
pids=()
for ((i = 0; i < tasks; i++)); do "$@" & pids+=($!); done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
"""


def add_tools(venv: Path, **tools: str) -> None:
    for name, text in tools.items():
        (venv / "bin" / name).write_text(text)
        (venv / "bin" / name).chmod(0o755)


def torchrun_calls(calls: list[str]) -> list[list[str]]:
    return [call.split() for call in calls if call.startswith("torchrun ")]


def rendezvous(words: list[str]) -> list[str]:
    """The launcher flags: everything before the script."""
    return words[1:next(i for i, word in enumerate(words) if word.endswith(".py"))]


def test_one_node_runs_standalone(sandbox):  # noqa: F811
    checkout, env = sandbox
    ready_venv(checkout, env)
    add_tools(Path(env["VENV"]), scontrol=FAKE_SCONTROL)
    result, calls = run("shell_scr/slurm/train_gan.sh", env, SLURM_JOB_NODELIST="gpu07", FAKE_NODES="gpu07")
    assert result.returncode == 0, result.stderr
    (call,) = torchrun_calls(calls)
    assert rendezvous(call) == ["--standalone", "--nproc_per_node=4"] and "--gpus=4" in call


def test_slurm_starts_one_launcher_per_node_through_srun(sandbox):  # noqa: F811
    checkout, env = sandbox
    ready_venv(checkout, env)
    add_tools(Path(env["VENV"]), scontrol=FAKE_SCONTROL, srun=FAKE_SRUN)
    result, calls = run("shell_scr/slurm/train_gan.sh", env, SLURM_JOB_NODELIST="gpu[07-08]",
                        FAKE_NODES="gpu07 gpu08", SLURM_JOB_ID="123456")
    assert result.returncode == 0, result.stderr
    (srun,) = [call for call in calls if call.startswith("srun ")]
    assert "--nodes=2 --ntasks=2 --ntasks-per-node=1 torchrun " in srun
    launchers = torchrun_calls(calls)
    assert len(launchers) == 2 and launchers[0] == launchers[1]
    port = 29400 + 123456 % 1000
    assert rendezvous(launchers[0]) == ["--nnodes=2", "--nproc_per_node=4", "--rdzv_backend=c10d",
                                        f"--rdzv_endpoint=gpu07:{port}", "--rdzv_id=thygan-123456"]
    assert "train.py" in launchers[0] and "--gpus=8" in launchers[0]  # 2 nodes x 4 processes


def test_sge_starts_the_other_hosts_of_the_pe_hostfile_with_qrsh(sandbox, tmp_path):  # noqa: F811
    checkout, env = sandbox
    ready_venv(checkout, env)
    add_tools(Path(env["VENV"]), qrsh=FAKE_QRSH)
    hostfile = tmp_path / "pe_hostfile"
    hostfile.write_text("node-a 32 gpu.q@node-a UNDEFINED\nnode-b 32 gpu.q@node-b UNDEFINED\n"
                        "node-c 32 gpu.q@node-c UNDEFINED\n")
    result, calls = run("shell_scr/sge/dlc_folds.sh", env, PE_HOSTFILE=str(hostfile), JOB_ID="77", SGE_TASK_ID="1",
                        GPUS="2", RDZV_PORT="31000")
    assert "no finished run" in result.stderr  # the stand-ins train nothing
    qrsh = [call for call in calls if call.startswith("qrsh ")]
    assert sorted(call.split()[3] for call in qrsh) == ["node-b", "node-c"]  # started at once: any order
    assert all(call.split()[1:3] == ["-inherit", "-nostdin"] for call in qrsh)
    launchers = torchrun_calls(calls)
    assert len(launchers) == 3 and all(words == launchers[0] for words in launchers)
    assert rendezvous(launchers[0]) == ["--nnodes=3", "--nproc_per_node=2", "--rdzv_backend=c10d",
                                        "--rdzv_endpoint=node-a:31000", "--rdzv_id=thygan-77"]
    assert "dlc_main.py" in launchers[0] and "--run_id=cv0_mc100" in launchers[0]
    assert not list(checkout.glob(".thygan-node-*"))  # the hosts' start script is removed afterwards


def test_a_failing_node_fails_the_job(sandbox, tmp_path):  # noqa: F811
    checkout, env = sandbox
    ready_venv(checkout, env)
    add_tools(Path(env["VENV"]), qrsh=LOGGER + "exit 3\n")
    hostfile = tmp_path / "pe_hostfile"
    hostfile.write_text("node-a 8 q@node-a UNDEFINED\nnode-b 8 q@node-b UNDEFINED\n")
    result, _ = run("shell_scr/sge/train_gan.sh", env, PE_HOSTFILE=str(hostfile), JOB_ID="5")
    assert result.returncode == 3


# ---- two real "nodes" on this machine --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def real_venv(tmp_path: Path, checkout: Path) -> dict:
    """env.sh's virtualenv as this Python: an activate script, torchrun, and a current install stamp."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'PATH={venv}/bin:$PATH\ndeactivate() {{ :; }}\n')
    add_tools(venv, python=f'#!/bin/bash\nexec {sys.executable} "$@"\n',
              torchrun=f'#!/bin/bash\nexec {sys.executable} -m torch.distributed.run "$@"\n',
              scontrol=FAKE_SCONTROL, srun=FAKE_SRUN)
    (venv / ".thygan-installed").write_text(f"torch torch\ncheckout {checkout}\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PE_HOSTFILE")
           and not k.startswith("SLURM_")}
    return dict(env, THYGAN_DIR=str(checkout), MODULES="", VENV=str(venv), TORCH_SPEC="torch",
                PYTHONPATH=str(REPO), NO_ALBUMENTATIONS_UPDATE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")


def step_result(outdir: Path) -> tuple[dict, dict, dict]:
    """The run's weights and gradients by parameter name, and its first tick's stats.

    StyleGAN's Adam has beta1 = 0, so after one minibatch each parameter's exp_avg in the training state
    is exactly the gradient of its network's last phase (averaged over the processes).
    """
    (run_dir,) = outdir.iterdir()
    snapshot = latest_snapshot(run_dir)
    networks_ = load_checkpoint(snapshot).networks
    state = load_file(snapshot.with_name(snapshot.name.replace("network-snapshot", "training-state")))
    weights = {f"{net}.{k}": v for net, module in networks_.items() for k, v in module.state_dict().items()}
    grads = {f"{net}.{name}": state[f"{net}_opt.{i}.exp_avg"]
             for net in ("G", "D") for i, (name, _) in enumerate(networks_[net].named_parameters())}
    stats = json.loads((run_dir / "stats.jsonl").read_text().splitlines()[0])
    return weights, grads, stats


def real_checkout(tmp_path: Path) -> Path:
    """A checkout for env.sh: the real shell_scr and root scripts."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "shell_scr").symlink_to(SHELL_SCR)
    for name in ("train.py", "dlc_main.py"):
        (checkout / name).symlink_to(REPO / name)
    for name in ("setup.cfg", "pyproject.toml"):
        (checkout / name).write_text("")
    return checkout


def two_local_nodes() -> dict:
    """SLURM's variables for a job of two nodes that are both this machine."""
    return dict(SLURM_JOB_NODELIST="localhost,localhost", FAKE_NODES="localhost localhost", SLURM_JOB_ID="1",
                RDZV_PORT=str(free_port()))


@pytest.mark.slow
def test_two_nodes_train_what_one_process_trains(tmp_path):
    checkout = real_checkout(tmp_path)
    env = real_venv(tmp_path, checkout)
    data = write_tiny_dataset(tmp_path / "tiny")
    settings = dict(DATA=str(data), CFG="cpu32", KIMG="0.008", SNAP="1", METRICS="none")

    two = subprocess.run(["bash", "shell_scr/slurm/train_gan.sh"], cwd=checkout, capture_output=True, text=True,
                         timeout=300, env=dict(env, **settings, **two_local_nodes(), GPUS="1",  # 2 nodes x 1
                                               OUTDIR=str(tmp_path / "two")))
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    assert "torchrun on 2 nodes (localhost localhost), 1 processes each" in two.stdout

    one = subprocess.run([sys.executable, str(REPO / "train.py"), f"--outdir={tmp_path / 'one'}", "--gpus=1",
                          "--batch-gpu=4", f"--data={data}", "--cfg=cpu32", "--cond=1", "--mirror=1", "--kimg=0.008",
                          "--snap=1", "--metrics=none"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=env)
    assert one.returncode == 0, one.stderr[-3000:]

    (run_two,) = (tmp_path / "two").iterdir()
    assert '"num_gpus": 2' in (run_two / "training_options.json").read_text()
    w_one, g_one, stats_one = step_result(tmp_path / "one")
    w_two, g_two, stats_two = step_result(tmp_path / "two")
    # The losses: both processes' images and latents, pooled (a wrong shard gives other values).
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real", "Loss/scores/fake"):
        assert stats_two[key]["n"] == stats_one[key]["n"], key
        assert stats_two[key]["mean"] == pytest.approx(stats_one[key]["mean"], rel=1e-4, abs=1e-6), key
    # The last phase's gradients (G's path length, D's R1), averaged over the two nodes: one process's
    # (its 2 passes of 4) up to float rounding, which is large only beside the tensor's own tiny scale.
    assert g_one.keys() == g_two.keys() and len(g_one) > 50
    for name, grad in g_one.items():
        assert (g_two[name] - grad).abs().max() <= 1e-2 * grad.abs().max() + 1e-9, name
    # The weights. Adam's first step (beta1 = 0) is lr * g / (|g| + eps), about lr * sign(g): where a
    # phase's gradient is zero up to rounding it may go either way, so a few weights differ by up to
    # lr per phase; every other one is equal. (Without the gradient average, sign(g) of one process's
    # half of the batch would differ from the whole batch's for a large share of the weights.)
    lrate = json.loads((run_two / "training_options.json").read_text())["lrate"]
    assert w_one.keys() == w_two.keys()
    equal = total = 0
    for name, weight in w_one.items():
        close = torch.isclose(w_two[name], weight, rtol=1e-4, atol=1e-5)
        assert (w_two[name] - weight).abs().max() <= 2 * lrate, name
        equal, total = equal + int(close.sum()), total + weight.numel()
    assert equal >= 0.999 * total, f"{total - equal} of {total} weights differ"


@pytest.mark.slow
def test_two_nodes_train_the_classifier_and_validate_like_one_process(sample_tiles, split_file, tmp_path):  # noqa: F811
    """dlc_main.py through nodes.sh on two local "nodes": each process trains and validates its shard,
    and the summed validation loss of the kept model is what one process computes over all images."""
    checkout = real_checkout(tmp_path)
    env = real_venv(tmp_path, checkout)
    opts = TrainOptions(src_dir=str(sample_tiles), labels=str(sample_tiles / "dataset.json"),
                        out_dir=str(tmp_path / "out"), split_file=str(split_file), run_id="nodes", crop_size=32,
                        model_type="resnet18", width=8, epochs=2, batch_size=16, workers=0, device="cpu")
    args = [f"--src_dir={opts.src_dir}", f"--labels={opts.labels}", f"--out_dir={opts.out_dir}",
            f"--split_file={opts.split_file}", "--run_id=nodes", "--crop_size=32", "--model_type=resnet18",
            "--width=8", "--epochs=2", "--batch_size=16", "--workers=0", "--device=cpu"]
    command = 'source shell_scr/nodes.sh && torchrun_on_nodes 1 dlc_main.py "$@"'
    result = subprocess.run(["bash", "-c", command, "job", *args], cwd=checkout, capture_output=True, text=True,
                            timeout=300, env=dict(env, **two_local_nodes(), PATH=f"{env['VENV']}/bin:{env['PATH']}"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "torchrun on 2 nodes" in result.stdout
    (run_dir,) = (tmp_path / "out").glob("*-nodes")
    results = json.loads((run_dir / "training_results.json").read_text())
    assert results["epochs_run"] == 2
    assert_two_processes_validate_like_one(run_dir, results, opts)
