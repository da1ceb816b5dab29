# exportsim: every target creates .venv when missing and installs what it needs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run dashboard test lint golden fuzz install bench bench-compiled clean calibrate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

## run: the flagship scenario (ByteDance trains on Ascend 910B) through the CLI
run: $(STAMP)
	$(BIN)/exportsim run scenarios/bytedance_ascend.yaml

## dashboard: the Streamlit dashboard on http://127.0.0.1:8501 (PORT=... to change)
PORT ?= 8501
dashboard: $(STAMP)
	$(BIN)/streamlit run app/streamlit_app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(PORT) --browser.gatherUsageStats false --server.maxUploadSize 1

## test: the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## lint: ruff (rule set in pyproject.toml) and mypy on sim/ (per-module settings there too)
lint: $(STAMP)
	$(BIN)/ruff check sim app tests benchmarks docs/measurements
	$(BIN)/mypy

## golden: rewrite tests/golden/ from the current model (refuses changed outputs unless MODEL_VERSION was bumped)
golden: $(STAMP)
	$(BIN)/python -m tests.golden.regen

## fuzz: the long property-test profile (thousands of generated scenarios)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/fuzz -q

## calibrate: synthetic-truth study (tiny scenario, 5 seeds) then the history fit on <= 2024 figures and its report
## (about 20 CPU-minutes; resumable: run it again after an interruption)
calibrate: $(STAMP)
	$(BIN)/python -m sim.experiments.calibration_study --seeds 5 --out calibrations/synthetic
	$(BIN)/exportsim calibrate scenarios/calibration/history.yaml --store calibrations/history
	$(BIN)/exportsim calibrate --report calibrations/history --html calibrations/history/report.html

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-compiled: $(STAMP)  # the engine compiled with mypyc vs interpreted: same rows, speed (needs gcc)
	$(BIN)/python benchmarks/compiled.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
