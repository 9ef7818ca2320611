"""The HPC job scripts in shell_scr/: valid bash with the scheduler directives they need, every thygan
command they run exists with the flags they pass (checked against the click command objects), and
the shell logic around the commands (resume, folds, the virtualenv stamp) does what it says, run
with stand-ins for python, torchrun and the virtualenv."""

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from thygan.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]
SHELL_SCR = REPO / "shell_scr"
SCRIPTS = sorted(SHELL_SCR.rglob("*.sh"))
SCHEDULERS = {"sge": "#$", "slurm": "#SBATCH"}
JOB_SCRIPTS = [path for path in SCRIPTS if path.parent.name in SCHEDULERS]
ROOT_SCRIPTS = ("train.py", "generate.py", "dataset_tool.py", "calc_metrics.py", "dlc_main.py", "dlc_eval.py",
                "split_dataset.py")
SEPARATORS = {";", "&&", "||", "|", "|&", "&", "(", ")", ";;"}
EXPECTED_COMMANDS = {"train", "generate", "dlc-train", "dlc-eval", "pipeline", "translate train", "segment infer wsi"}
LAUNCHERS = {"torchrun", "torchrun_on_nodes"}  # torchrun_on_nodes GPUS SCRIPT ARGS: shell_scr/nodes.sh
FORWARDED = re.compile(r'\$@|\$\{\w+\[@\]\}')  # "$@", "${launch[@]}"


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# ---- reading the scripts -------------------------------------------------------------------------------

def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line) with backslash continuations joined."""
    lines, start, parts = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        start = number if start is None else start
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        lines.append((start, " ".join(parts + [line])))
        start, parts = None, []
    return lines


def shell_words(line: str) -> list[str]:
    """Words as bash splits them (quotes removed), with ; && | ( ) as words of their own; comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def root_script_command(script: str) -> str:
    """The registry name of the command a root shim (train.py, ...) runs, read from its import."""
    tree = ast.parse((REPO / script).read_text())
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)
               and (node.module or "").startswith("thygan.cli.")]
    assert len(imports) == 1 and len(imports[0].names) == 1, f"{script} is not a one-import shim over thygan.cli"
    target = f"{imports[0].module}:{imports[0].names[0].name}"
    names = [name for name, value in COMMANDS.items() if value == target]
    assert names, f"{script} runs {target}, which thygan.cli.main does not register"
    return names[0]


@dataclass
class Invocation:
    script: Path
    line: int
    form: str                              # how the script calls it: "python train.py", "thygan pipeline"
    command: str                           # registry name
    flags: list[tuple[str, str | None]]    # (flag, literal value or None)

    def where(self) -> str:
        return f"{rel(self.script)}:{self.line} ({self.form})"


def _alternatives(word: str) -> list[str]:
    """The words an argument can expand to: `${VAR:+--flag=$VAR}` may give `--flag=$VAR`."""
    match = re.fullmatch(r"\$\{\w+:?\+(.*)\}", word)
    return [word] + (_alternatives(match.group(1)) if match else [])


def _flags(args: list[str]) -> list[tuple[str, str | None]]:
    flags = []
    for arg in args:
        for word in _alternatives(arg):
            if word.startswith("-") and len(word) > 1:
                name, eq, value = word.partition("=")
                flags.append((name, value if eq and "$" not in value else None))
    return flags


def _thygan_invocation(script: Path, line: int, form: str, args: list[str]) -> Invocation:
    """`thygan <command> ARGS`, or `thygan <group> [<group> ...] <command> ARGS` (`thygan segment infer wsi`)."""
    command, depth = cli.get_command(click.Context(cli), args[0]), 1
    while isinstance(command, click.Group) and depth < len(args) and not args[depth].startswith("-"):
        command, depth = command.get_command(click.Context(command), args[depth]), depth + 1
    name = " ".join(args[:depth])
    return Invocation(script, line, f"{form} {name}", name, _flags(args[depth:]))


def resolve_command(name: str) -> click.Command | None:
    """The click command of a registry name, descending into groups ('segment train')."""
    command = cli
    for part in name.split():
        command = command.get_command(click.Context(command), part) if isinstance(command, click.Group) else None
    return command


def _invocation(script: Path, line: int, words: list[str]) -> Invocation | None:
    names = [os.path.basename(word) for word in words]
    for i, name in enumerate(names):
        if name in LAUNCHERS and "-m" in words[i + 1:-1]:  # torchrun -m thygan <command>: `python -m thygan`
            m = words.index("-m", i + 1)
            assert names[m + 1] == "thygan" and m + 2 < len(words), f"{rel(script)}:{line}: {name} -m runs no thygan"
            return _thygan_invocation(script, line, f"{name} -m thygan", words[m + 2:])
        if name in ("python", "python3") and i + 1 < len(words) and names[i + 1] in ROOT_SCRIPTS:
            return Invocation(script, line, f"python {names[i + 1]}", root_script_command(names[i + 1]),
                              _flags(words[i + 2:]))
        if name in LAUNCHERS:
            j = next((j for j in range(i + 1, len(words)) if words[j].endswith(".py")), None)
            if j is None and (words[i + 1:i + 2] == ["()"] or any(FORWARDED.fullmatch(w) for w in words[i + 1:])):
                return None  # nodes.sh defining the function, or passing on its caller's script and arguments
            assert j is not None and names[j] in ROOT_SCRIPTS, f"{rel(script)}:{line}: {name} runs no root script"
            return Invocation(script, line, f"torchrun {names[j]}", root_script_command(names[j]),
                              _flags(words[j + 1:]))
        if name == "thygan" and i + 1 < len(words):
            return _thygan_invocation(script, line, "thygan", words[i + 1:])
    return None


def invocations(script: Path) -> list[Invocation]:
    """Every thygan command a script runs (root scripts, under torchrun too, and `thygan <command>`)."""
    found = []
    for number, line in logical_lines(script.read_text()):
        if line.lstrip().startswith("#"):
            continue
        segment = []
        for word in shell_words(line) + [";"]:
            if word in SEPARATORS:
                found += [inv] if segment and (inv := _invocation(script, number, segment)) else []
                segment = []
            else:
                segment.append(word)
    return found


def directives(script: Path) -> list[str]:
    prefix = SCHEDULERS[script.parent.name]
    return [line[len(prefix):].strip() for line in script.read_text().splitlines() if line.startswith(prefix + " ")]


def directive_value(script: Path, pattern: str) -> str | None:
    values = [m.group(1) for d in directives(script) if (m := re.fullmatch(pattern, d))]
    assert len(values) <= 1, f"{rel(script)}: {pattern} given {len(values)} times"
    return values[0] if values else None


def code_lines(script: Path) -> list[str]:
    return [line for line in script.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


ALL_INVOCATIONS = [inv for script in SCRIPTS for inv in invocations(script)]


def _first_forms() -> dict[str, Invocation]:
    first = {}
    for inv in ALL_INVOCATIONS:
        first.setdefault(inv.command, inv)
    return first


# ---- every script -------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_script_is_executable_bash(script):
    assert script.read_text().splitlines()[0] == "#!/bin/bash"
    assert os.access(script, os.X_OK), f"{rel(script)} is not executable (chmod +x)"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"bash -n {rel(script)}: {result.stderr}"


@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_sourced_files_exist(script):
    for line in code_lines(script):
        match = re.match(r"\s*(?:source|\.)\s+\"?\$\{?THYGAN_DIR[^/]*/(shell_scr/[\w./]+)\"?", line)
        if match:
            assert (REPO / match.group(1)).is_file(), f"{rel(script)} sources the missing {match.group(1)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_commands_exist_with_their_flags(script):
    for inv in invocations(script):
        command = resolve_command(inv.command)
        if command is None:
            pytest.fail(f"{inv.where()}: `thygan {inv.command}` is not a thygan command yet "
                        f"(thygan.cli.main registers: {', '.join(sorted(COMMANDS))})")
        ctx = click.Context(command, info_name=inv.command, **command.context_settings)
        options = {param.name: param for param in command.params if isinstance(param, click.Option)}
        known = {opt: param for param in options.values() for opt in param.opts + param.secondary_opts}
        known.update({opt: None for opt in command.get_help_option(ctx).opts})
        for flag, value in inv.flags:
            assert flag in known, f"{inv.where()}: thygan {inv.command} has no option {flag}"
            param = known[flag]
            if value is not None and param is not None:
                try:
                    param.type.convert(value, param, ctx)
                except click.BadParameter as exc:
                    pytest.fail(f"{inv.where()}: {flag}={value}: {exc.format_message()}")
        passed = {flag for flag, _ in inv.flags}
        for param in options.values():
            if param.required:
                assert passed & set(param.opts), f"{inv.where()}: the required {param.opts[0]} is missing"


def test_scripts_cover_the_study():
    assert {inv.command for inv in ALL_INVOCATIONS} >= EXPECTED_COMMANDS


@pytest.mark.parametrize("command", sorted(_first_forms()))
def test_help_runs(command):
    inv = _first_forms()[command]
    if inv.form.startswith("thygan ") or " -m thygan " in inv.form:
        entry = Path(sys.executable).with_name("thygan")
        argv = [str(entry)] if entry.exists() else [sys.executable, "-m", "thygan.cli.main_entry"]
        argv += command.split() + ["--help"]
    else:
        argv = [sys.executable, inv.form.split()[1], "--help"]
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage:" in result.stdout, \
        f"`{' '.join(argv[-3:])}` (as {inv.where()} runs it) failed with exit {result.returncode}: {result.stderr}"


# ---- scheduler directives -----------------------------------------------------------------------------

@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=rel)
def test_directives(script):
    lines = script.read_text().splitlines()
    scheduler = script.parent.name
    prefix = SCHEDULERS[scheduler]
    other = SCHEDULERS["slurm" if scheduler == "sge" else "sge"]
    first_code = next(n for n, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    assert "set -e" in lines[first_code:], f"{rel(script)} does not `set -e`"
    for n, line in enumerate(lines):
        assert not line.startswith(other + " "), f"{rel(script)}:{n + 1}: a {other} directive in a {scheduler} script"
        if line.startswith(prefix + " "):
            # sbatch stops reading directives at the first command; neither scheduler allows a trailing comment
            assert n < first_code, f"{rel(script)}:{n + 1}: directive after the first command"
            assert "#" not in line[len(prefix):], f"{rel(script)}:{n + 1}: comment on a directive line"
    found = directives(script)
    if scheduler == "sge":
        assert "-cwd" in found and "-j y" in found
        gpus = directive_value(script, r"-l gpu=(\d+)")
        cores = directive_value(script, r"-pe smp (\d+)")
        assert directive_value(script, r"-l h_rt=(\d+:\d+:\d+)") and directive_value(script, r"-l h_vmem=(\S+)")
        assert directive_value(script, r"-M (\S+@\S+)") and "-m bea" in found
    else:
        assert directive_value(script, r"--job-name=(\S+)")
        gpus = directive_value(script, r"--gres=gpu:(\d+)")
        cores = directive_value(script, r"--cpus-per-task=(\d+)")
        assert directive_value(script, r"--time=(\d+:\d+:\d+)") and directive_value(script, r"--mem=(\S+)")
        assert directive_value(script, r"--mail-user=(\S+@\S+)")
    assert gpus is not None and cores is not None, f"{rel(script)} requests no GPU or no cores"
    assert int(cores) == 8 * int(gpus), f"{rel(script)}: 8 cores per GPU, as the study"
    default = re.search(r"^GPUS=(?:\$\{GPUS:-)?(\d+)\}?(?:\s+#.*)?$", script.read_text(), re.MULTILINE)
    if default:
        assert int(default.group(1)) == int(gpus), f"{rel(script)}: GPUS={default.group(1)} but {gpus} GPUs requested"


@pytest.mark.parametrize("script", JOB_SCRIPTS, ids=rel)
def test_array_jobs_use_the_task_id(script):
    code = "\n".join(code_lines(script))
    if script.parent.name == "sge":
        array = directive_value(script, r"-t (\d+)-(?:\d+)")
        assert (array is not None) == bool(re.search(r"\bSGE_TASK_ID\b", code))
        if array is not None:
            assert int(array) >= 1, "SGE numbers array tasks from 1"
    else:
        array = directive_value(script, r"--array=(\S+)")
        assert (array is not None) == bool(re.search(r"\bSLURM_ARRAY_TASK_ID\b", code))


def test_each_scheduler_has_the_same_jobs():
    for name in {p.name for p in JOB_SCRIPTS}:
        sge, slurm = SHELL_SCR / "sge" / name, SHELL_SCR / "slurm" / name
        assert sge.is_file() and slurm.is_file(), f"{name} exists for one scheduler only"
        runs = [[(inv.command, sorted({flag for flag, _ in inv.flags})) for inv in invocations(path)]
                for path in (sge, slurm)]
        assert runs[0] == runs[1], f"sge/{name} and slurm/{name} run different commands"
    assert any(directive_value(p, r"-t (\S+)") for p in JOB_SCRIPTS if p.parent.name == "sge")
    assert any(directive_value(p, r"--array=(\S+)") for p in JOB_SCRIPTS if p.parent.name == "slurm")


# ---- the shell logic, with stand-ins for python, torchrun and the virtualenv ---------------------------

LOGGER = '#!/bin/bash\necho "$(basename "$0") $*" >>"$CALLS"\n'
FAKE_INTERPRETER = LOGGER + """if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
    printf 'PATH=%s/bin:$PATH\\ndeactivate() { :; }\\n' "$3" >"$3/bin/activate"
fi
"""


@pytest.fixture
def sandbox(tmp_path):
    """A checkout (the real shell_scr, stub root scripts) and a ready virtualenv of logging stand-ins."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "shell_scr").symlink_to(SHELL_SCR)
    for name in ("train.py", "dlc_main.py", "dlc_eval.py", "generate.py", "setup.cfg", "pyproject.toml"):
        (checkout / name).write_text("")
    interpreter = tmp_path / "python3"
    interpreter.write_text(FAKE_INTERPRETER)
    interpreter.chmod(0o755)
    venv = tmp_path / "venv"
    env = dict(os.environ, THYGAN_DIR=str(checkout), MODULES="", PYTHON=str(interpreter), VENV=str(venv),
               TORCH_SPEC="torch==2.5.1", CALLS=str(tmp_path / "calls"))
    for var in ("SGE_TASK_ID", "SLURM_ARRAY_TASK_ID", "FOLD", "GPUS", "OUTDIR", "OUT_DIR",
                "SLURM_JOB_NODELIST", "SLURM_JOB_ID", "PE_HOSTFILE", "JOB_ID", "RDZV_PORT"):  # a job's own nodes
        env.pop(var, None)
    return checkout, env


def run(script: str, env: dict, **extra) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = Path(env["CALLS"])
    calls.unlink(missing_ok=True)
    result = subprocess.run(["bash", script], cwd=env["THYGAN_DIR"], env=dict(env, **extra), capture_output=True,
                            text=True, timeout=60)
    return result, calls.read_text().splitlines() if calls.exists() else []


def installs(calls: list[str]) -> list[str]:
    return [call for call in calls if "pip install" in call]


def ready_venv(checkout: Path, env: dict) -> None:
    """Build the stand-in virtualenv once through env.sh, and put a logging torchrun in it."""
    result, calls = run("shell_scr/env.sh", env)
    assert result.returncode == 0, result.stderr
    torchrun = Path(env["VENV"]) / "bin" / "torchrun"
    torchrun.write_text(LOGGER)
    torchrun.chmod(0o755)


def test_env_installs_only_when_the_stamp_is_missing_or_stale(sandbox):
    checkout, env = sandbox
    result, calls = run("shell_scr/env.sh", env)
    assert result.returncode == 0, result.stderr
    pip = installs(calls)
    assert len(pip) == 4 and "torch==2.5.1" in pip[1] and f"-e {checkout}" in pip[2], pip  # torch first and alone
    assert calls[0].endswith("-m venv " + env["VENV"])
    result, calls = run("shell_scr/env.sh", env)
    assert result.returncode == 0 and installs(calls) == [] and calls == [calls[0]] and " -c " in calls[0]
    stamp = Path(env["VENV"]) / ".thygan-installed"
    installed = stamp.stat().st_mtime
    os.utime(stamp, (installed - 60, installed - 60))  # the package metadata changed after the install
    assert len(installs(run("shell_scr/env.sh", env)[1])) == 4
    assert installs(run("shell_scr/env.sh", env)[1]) == []
    assert len(installs(run("shell_scr/env.sh", env, TORCH_SPEC="torch==2.6.0")[1])) == 4


def test_env_refuses_a_folder_that_is_no_checkout(sandbox, tmp_path):
    _, env = sandbox
    result = subprocess.run(["bash", str(SHELL_SCR / "env.sh")], cwd=tmp_path, env=dict(env, THYGAN_DIR=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not a thygan checkout" in result.stderr


def make_snapshot(run_dir: Path, kimg: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        (run_dir / f"network-snapshot-{kimg:06d}{suffix}").write_text("")


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_gan_job_resumes_the_newest_run(sandbox, scheduler):
    checkout, env = sandbox
    ready_venv(checkout, env)
    env = dict(env, OUTDIR="runs", KIMG="1000")
    script = f"shell_scr/{scheduler}/train_gan.sh"
    result, calls = run(script, env)
    assert result.returncode == 0, result.stderr
    torchrun = [call for call in calls if call.startswith("torchrun ")]
    assert len(torchrun) == 1 and "--nproc_per_node=4 train.py" in torchrun[0] and "--resume" not in torchrun[0]

    resumed = "runs/00001-data-cond-mirror-paper512-resumecustom"
    make_snapshot(checkout / "runs/00000-data-cond-mirror-paper512", 200)
    make_snapshot(checkout / resumed, 400)
    (checkout / "runs/00002-data-cond-mirror-paper512-resumecustom").mkdir()  # killed before its first snapshot
    result, calls = run(script, env)
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("torchrun ") and call.endswith(f"--resume={resumed}") for call in calls), calls

    make_snapshot(checkout / resumed, 1000)
    result, calls = run(script, env)
    assert result.returncode == 0 and "nothing to do" in result.stdout
    assert not any(call.startswith("torchrun ") for call in calls)


@pytest.mark.parametrize("script", [p for p in JOB_SCRIPTS if re.fullmatch(r"train_gan_\d+gpu\.sh", p.name)], ids=rel)
def test_gan_job_variants_pass_their_gpu_count(sandbox, script):
    checkout, env = sandbox
    ready_venv(checkout, env)
    gpus = re.search(r"(\d+)gpu", script.name).group(1)
    result, calls = run(rel(script), env)
    assert result.returncode == 0, result.stderr
    torchrun = [call for call in calls if call.startswith("torchrun ")]
    assert len(torchrun) == 1 and f"--nproc_per_node={gpus} train.py" in torchrun[0] and f"--gpus={gpus}" in torchrun[0]


@pytest.mark.parametrize(("scheduler", "task_id"),
                         [("sge", {"SGE_TASK_ID": "3"}), ("slurm", {"SLURM_ARRAY_TASK_ID": "2"})])
def test_fold_job_trains_then_evaluates_fold_of_its_task(sandbox, scheduler, task_id):
    checkout, env = sandbox
    ready_venv(checkout, env)
    script = f"shell_scr/{scheduler}/dlc_folds.sh"
    result, calls = run(script, env, **task_id)  # the stand-in trains nothing: no model to evaluate
    assert result.returncode == 1 and "no finished run" in result.stderr
    train = [call for call in calls if " dlc_main.py " in f" {call} "]
    assert len(train) == 1 and "--split_file=data/cv_splits/cv2_splits/cv_split_2_0.json" in train[0]
    assert "--run_id=cv2_mc100" in train[0]

    run_dir = checkout / "logs/004-cv2_mc100"
    run_dir.mkdir(parents=True)
    (run_dir / "training_results.json").write_text("{}")
    (run_dir / "vl_0.2983.safetensors").write_text("")
    result, calls = run(script, env, **task_id)
    assert result.returncode == 0, result.stderr
    assert not any("dlc_main.py" in call for call in calls)  # a finished fold is not trained again
    evaluate = [call for call in calls if "dlc_eval.py" in call]
    assert len(evaluate) == 1 and "--mdl_loc=logs/004-cv2_mc100/vl_0.2983.safetensors" in evaluate[0]
    assert "--run_id=cv2_mc100_test" in evaluate[0]


def make_snapshot_run(run_dir: Path, options: dict, prefix: str, done: int) -> None:
    """A run folder with its options.json and the snapshot ``prefix-{done:06d}`` (json + safetensors)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # as write_options indents it: the job scripts read the run's own epochs from it
    (run_dir / "options.json").write_text(json.dumps(options, indent=2) + "\n")
    for suffix in (".json", ".safetensors"):
        (run_dir / f"{prefix}-{done:06d}{suffix}").write_text("")


def make_segment_run(run_dir: Path, epochs: list[int], done: int) -> None:
    make_snapshot_run(run_dir, {"data": "d", "epochs": epochs}, "hovernet-snapshot", done)


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_segment_job_starts_resumes_and_stops(sandbox, scheduler):
    checkout, env = sandbox
    ready_venv(checkout, env)
    env = dict(env, OUTDIR="runs")
    script = f"shell_scr/{scheduler}/segment_train.sh"
    result, calls = run(script, env)
    assert result.returncode == 0, result.stderr
    torchrun = [call for call in calls if call.startswith("torchrun ")]
    assert len(torchrun) == 1 and "--nproc_per_node=4 -m thygan segment train --data=" in torchrun[0]
    assert "--resume" not in torchrun[0] and "--batch=16,4" in torchrun[0]

    make_segment_run(checkout / "runs/00000-hovernet", [2, 3], 5)            # finished
    make_segment_run(checkout / "runs/00001-hovernet", [10, 40], 12)         # the newest: resumed
    (checkout / "runs/00002-hovernet").mkdir()                               # killed before its first snapshot
    result, calls = run(script, env)
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("torchrun ") and call.endswith("segment train --resume=runs/00001-hovernet")
               for call in calls), calls

    make_segment_run(checkout / "runs/00001-hovernet", [10, 40], 50)
    result, calls = run(script, env)
    assert result.returncode == 0 and "ran 50 of 50 epochs; nothing to do" in result.stdout
    assert not any(call.startswith("torchrun ") for call in calls)


def ready_thygan(checkout: Path, env: dict, **settings) -> dict:
    """The stand-in virtualenv with a logging `thygan` entry point; the environment with ``settings``."""
    ready_venv(checkout, env)
    thygan = Path(env["VENV"]) / "bin" / "thygan"
    thygan.write_text(LOGGER)
    thygan.chmod(0o755)
    return dict(env, **settings)


def make_translate_run(run_dir: Path, n_epochs: int, n_epochs_decay: int, done: int) -> None:
    make_snapshot_run(run_dir, {"dataroot": "d", "n_epochs": n_epochs, "n_epochs_decay": n_epochs_decay},
                      "translate-snapshot", done)


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_translate_job_starts_resumes_and_stops(sandbox, scheduler):
    checkout, env = sandbox
    env = ready_thygan(checkout, env, OUTDIR="runs")
    script = f"shell_scr/{scheduler}/translate_train.sh"
    result, calls = run(script, env, MODEL="pix2pix", MASK_TYPES="5")
    assert result.returncode == 0, result.stderr
    train = [call for call in calls if call.startswith("thygan ")]
    assert len(train) == 1 and train[0].startswith("thygan translate train --dataroot=") and "--resume" not in train[0]
    assert "--model=pix2pix" in train[0] and "--mask_types=5" in train[0] and "--outdir=runs" in train[0]

    make_translate_run(checkout / "runs/00000-ihc2he", 2, 2, 4)           # finished
    make_translate_run(checkout / "runs/00001-ihc2he", 100, 100, 120)     # the newest: resumed
    (checkout / "runs/00002-ihc2he").mkdir()                              # killed before its first snapshot
    result, calls = run(script, env)
    assert result.returncode == 0, result.stderr
    assert calls[-1] == "thygan translate train --resume=runs/00001-ihc2he", calls

    make_translate_run(checkout / "runs/00001-ihc2he", 100, 100, 200)
    result, calls = run(script, env)
    assert result.returncode == 0 and "ran 200 of 200 epochs; nothing to do" in result.stdout
    assert not any(call.startswith("thygan ") for call in calls)


@pytest.mark.parametrize(("scheduler", "task_var"), [("sge", "SGE_TASK_ID"), ("slurm", "SLURM_ARRAY_TASK_ID")])
def test_slide_job_segments_the_slide_of_its_task(sandbox, scheduler, task_var):
    checkout, env = sandbox
    ready_thygan(checkout, env)
    (checkout / "slides.txt").write_text("# cohort A\nslides/a.svs\n\nslides/b c.ndpi\nslides/c.svs\n")
    script = f"shell_scr/{scheduler}/segment_wsi.sh"
    result, calls = run(script, env, **{task_var: "2"})  # task 2: the second slide (comments, blanks skipped)
    assert result.returncode == 0, result.stderr
    infer = [call for call in calls if call.startswith("thygan ")]
    assert len(infer) == 1 and infer[0].startswith("thygan segment infer wsi --model=")
    assert "--input=slides/b c.ndpi --output-dir=segmented " in infer[0]

    for task, message in (("4", "lists fewer than 4 slides"), ("", "no slide number")):
        result, calls = run(script, env, **{task_var: task})
        assert result.returncode == 2 and message in result.stderr and calls == []
    result, calls = run(script, env, **{task_var: "1"}, SLIDES="absent.txt")
    assert result.returncode == 2 and "absent.txt: no such slide list" in result.stderr and calls == []
