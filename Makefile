# Two entry points, each creating or reusing the virtual environment in .venv:
#   make experiment   the main job
#   make test         ruff and the whole test suite
PYTHON ?= python3
# Extra pip arguments for the install. Default: on Linux without an NVIDIA GPU (no `nvidia-smi`
# on the PATH), torch's CPU index, so that pip takes the CPU build instead of PyPI's wheel with
# several GB of CUDA libraries; skipped where that index cannot be reached (TORCH_INDEX_PROBE,
# a DNS lookup: pip would retry it for every package), and empty anywhere else. Setting it
# overrides all of that, e.g. `make test PIP_ARGS=` (PyPI's torch even without a GPU).
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX_PROBE ?= timeout 5 $(PYTHON) -c \
	"import socket; socket.getaddrinfo('download.pytorch.org', 443)" >/dev/null 2>&1
ifeq ($(origin PIP_ARGS),undefined)
  # Worked out once, and only when the install runs (`=` and the eval keep it lazy).
  PIP_ARGS = $(eval PIP_ARGS := $(if $(and \
	$(filter Linux,$(shell uname -s)), \
	$(if $(shell command -v nvidia-smi),,no-gpu), \
	$(shell $(TORCH_INDEX_PROBE) && echo reachable)),--extra-index-url $(TORCH_CPU_INDEX)))$(PIP_ARGS)
endif
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: experiment test

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "pip arguments: $(or $(strip $(PIP_ARGS)),none) (PIP_ARGS=... to change)"
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
