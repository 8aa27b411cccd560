# Two entry points, each creating or reusing the virtual environment in .venv:
#   make experiment   the main job
#   make test         ruff and the whole test suite
PYTHON ?= python3
# Extra pip arguments, e.g. the CPU build of torch on a Linux machine without a CUDA GPU:
#   make test PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_ARGS ?=
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: experiment test

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(PIP_ARGS) -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The quick Figure 5 grid on a local Ray; run again, it resumes (finished trials are kept)
# and redraws the figure. NAME=... starts another experiment.
NAME ?= figure5-quick
experiment: $(VENV)/.installed
	$(PY) experiments/figure5.py --profile quick --name $(NAME) \
		$(if $(wildcard runs/$(NAME)),--resume)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q
