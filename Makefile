# One-command entry points. `make demo` and `make test` set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The environment variant: cpu (tensorflow-cpu, the default) or gpu (tensorflow[and-cuda], `make install-gpu`).
# Once the GPU variant is installed, every target keeps using it.
VARIANT ?= $(if $(wildcard $(VENV)/.installed-gpu),gpu,cpu)
REQUIREMENTS := $(if $(filter gpu,$(VARIANT)),requirements-gpu.txt,requirements.txt)
STAMP := $(VENV)/.installed$(if $(filter gpu,$(VARIANT)),-gpu,)
SNAKEMAKE := $(BIN)/snakemake

.PHONY: demo run test test-fast lint bench report unlock clean help config-docs install-gpu install-cpu

help:
	@echo "make demo   - run the whole workflow on the embedded synthetic dataset (offline)"
	@echo "make run    - run the real experiment (config/config.yaml: Kaggle data, ImageNet weights)"
	@echo "make test   - run every test (unit, integration, report in a browser, SLURM)"
	@echo "make lint   - ruff, snakefmt --check and snakemake --lint"
	@echo "make bench  - measure speed and memory (results/benchmarks/)"
	@echo "make config-docs - regenerate config/README.md's key tables from the schema"
	@echo "make install-gpu - replace .venv by the GPU variant (tensorflow[and-cuda], requirements-gpu.txt)"

$(STAMP): $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	touch $@

# A fresh .venv with the GPU variant (never both TensorFlow builds in one environment).
install-gpu:
	rm -rf $(VENV)
	$(MAKE) VARIANT=gpu $(VENV)/.installed-gpu

install-cpu:
	rm -rf $(VENV)
	$(MAKE) VARIANT=cpu $(VENV)/.installed

demo: $(STAMP)
	$(SNAKEMAKE) --configfile config/demo.yaml

run: $(STAMP)
	$(SNAKEMAKE) --configfile config/config.yaml

# Offline compute nodes: on a node with internet, run only the downloads the config needs
# (rule fetch_inputs: get_dataset, and download_weights for ImageNet weights); the rest then runs offline.
CONFIG ?= config/config.yaml
.PHONY: fetch
fetch: $(STAMP)
	$(SNAKEMAKE) fetch_inputs --configfile $(CONFIG)

report: $(STAMP)
	$(SNAKEMAKE) --configfile config/demo.yaml --report results/snakemake-report.zip

# After Snakemake itself was killed: release its lock, then run the same command again.
unlock: $(STAMP)
	$(SNAKEMAKE) --unlock --configfile config/demo.yaml

test: $(STAMP)
	bash tests/system_deps.sh
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not system"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(SNAKEMAKE) --lint --configfile config/demo.yaml

# config/README.md's key tables come from the schema; tests fail when they differ.
config-docs: $(STAMP)
	$(BIN)/python scripts/config_docs.py --schema workflow/schemas/config.schema.yaml --readme config/README.md

bench: $(STAMP)
	$(BIN)/python scripts/bench.py --out results/benchmarks

clean:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf resources logs benchmarks .snakemake
