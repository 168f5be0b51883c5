# Set-up and the two everyday commands. Torch goes in first, pinned by TORCH, so that pip does
# not resolve a plain "torch" requirement to a multi-GB CUDA build. Change it on the command line,
# e.g. `make test TORCH="torch==2.14.1"`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
# Tests and the demo are sized for 2 CPU cores.
PYTEST_WORKERS ?= 2

.PHONY: demo test bench clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/pushforward demo

test: venv
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

# Timed comparisons against peers (zuko, normflows, torchcfm, dcor): not part of the test suite.
# torchcfm goes in without its dependencies (it only needs torch, numpy and POT here; its own
# requirements would pull a training framework the benchmark does not use).
bench: venv
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pip install --quiet --no-deps torchcfm
	$(BIN)/python benchmarks/toy2d.py
	$(BIN)/python benchmarks/gan_modes.py
	$(BIN)/python benchmarks/two_sample.py
	$(BIN)/python benchmarks/energy_floor.py
	$(BIN)/python benchmarks/step_cost.py
	$(BIN)/python benchmarks/iteration_ratio.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
