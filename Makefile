# The two commands, from nothing:
#   make run    set up (if needed), then the main job: bench run --task segmentation
#   make test   set up (if needed), then the test suite (what .ci/run runs)
# Setup = a virtualenv at $(VENV) (default .venv) with `pip install -e ".[dev]"`. It is done
# once: the stamp $(VENV)/.installed is rebuilt only when pyproject.toml or setup.py change.
# Variables: VENV=DIR (CI uses a fresh temp dir), PYTHON=python3.X (the venv's interpreter),
# TASK=segmentation, RUN_ARGS="--profile smoke" (extra `bench run` options),
# PYTEST_ARGS="tests/test_startup.py" (extra pytest arguments, e.g. a subset).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TASK ?= segmentation
RUN_ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export RAY_USAGE_STATS_ENABLED := 0

.DEFAULT_GOAL := help
.PHONY: help setup run test

help:
	@echo "make run    set up $(VENV) (once), then: bench run --task $(TASK) $(RUN_ARGS)"
	@echo "make test   set up $(VENV) (once), then: pytest -q $(PYTEST_ARGS)"
	@echo "make setup  only the setup (virtualenv + pip install -e \".[dev]\")"

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv "$(VENV)"
	"$(BIN)/python" -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	"$(BIN)/python" -m pip install -e ".[dev]"
	touch "$@"

run: $(STAMP)
	"$(BIN)/bench" run --task $(TASK) $(RUN_ARGS)

# pytest's exit code 5 ("no tests collected") is a failure too.
test: $(STAMP)
	HF_HUB_OFFLINE=1 "$(BIN)/python" -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi; \
	exit $$rc
