# One-command entry points. `make demo` and `make test` set up .venv from uv.lock on first use.
#
# The environment comes from one declaration (pyproject.toml) and one universal lock (uv.lock) that
# pins every package for Linux x86-64 and aarch64, macOS arm64 and Windows x86-64, Python 3.11-3.13.
# uv itself is installed into .tools/ from PyPI when it is not given (UV=/path/to/uv).
SUPPORTED_PYTHONS := 3.11 3.12 3.13
PYTHON ?= $(firstword $(foreach v,$(SUPPORTED_PYTHONS),$(shell command -v python$(v) 2>/dev/null)) $(shell command -v python3 2>/dev/null))
UV_VERSION := 0.13.9
TOOLS := .tools
UV ?= $(TOOLS)/uv/bin/uv
# The environment targets use: .venv (CPU, the default) or .venv-gpu (make install-gpu), e.g.
# `make run VENV=.venv-gpu`. Building one never touches the other.
VENV ?= .venv
VENV_GPU ?= .venv-gpu
BIN := $(VENV)/bin
SNAKEMAKE := $(BIN)/snakemake
CONFIG ?= config/config.yaml

# Refuse an unsupported Python at once, in one line (targets that need no Python are exempt).
NO_PYTHON_GOALS := help clean clean-cache
ifneq ($(filter-out $(NO_PYTHON_GOALS),$(or $(MAKECMDGOALS),help)),)
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(filter $(SUPPORTED_PYTHONS),$(PYTHON_VERSION)),)
$(error ERROR: Python $(or $(PYTHON_VERSION),(none found at '$(PYTHON)')) is not supported; use Python 3.11, 3.12 or 3.13 (e.g. `uv python install 3.12`, pyenv, or your package manager), then run `make <target> PYTHON=python3.12`)
endif
endif

.PHONY: clean-cache bench-full demo run fetch test test-fast lint lock lock-check conda-env bench report unlock clean help config-docs install-gpu

help:
	@echo "make demo   - run the whole workflow on the embedded synthetic dataset (offline)"
	@echo "make run    - run the real experiment (config/config.yaml: Kaggle data, ImageNet weights)"
	@echo "make fetch  - only the downloads of CONFIG (default config/config.yaml) into the cache, on a node with internet"
	@echo "make test   - run every test (unit, integration, report in a browser, SLURM, the lock)"
	@echo "make test-fast - only the fast tier: unit tests in process, under a minute"
	@echo "make lint   - ruff, snakefmt --check, mypy and snakemake --lint"
	@echo "make bench  - measure speed and memory (results/benchmarks/)"
	@echo "make bench-full - the real config at full size on synthetic data: wall time, VGG16 share, memory, disk"
	@echo "make lock   - re-resolve uv.lock after editing pyproject.toml, and regenerate the conda files"
	@echo "make config-docs - regenerate config/README.md's key tables from the schema"
	@echo "make install-gpu - build the GPU environment .venv-gpu beside .venv (Linux; .venv is left as it is)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The CPU environment, exactly as locked (with the test and lint tools), poolkit installed editable.
$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

# The GPU environment: the same lock with tensorflow[and-cuda] in place of tensorflow-cpu, built in its
# own folder. GPU TensorFlow also runs on CPU-only nodes, so on a cluster this one environment can
# serve every job. A failed build removes only .venv-gpu.
$(VENV_GPU)/.installed: uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV_GPU) $(UV) sync --frozen --compile-bytecode --python $(PYTHON) --extra gpu \
		--no-install-package tensorflow-cpu \
		|| { rm -rf $(VENV_GPU); echo "ERROR: the GPU environment could not be built (see above); $(VENV_GPU) was removed, $(VENV) is untouched" >&2; exit 1; }
	touch $@

install-gpu: $(VENV_GPU)/.installed

demo: $(VENV)/.installed
	$(SNAKEMAKE) --configfile config/demo.yaml

run: $(VENV)/.installed
	$(SNAKEMAKE) --configfile $(CONFIG)

# Offline compute nodes: on a node with internet, run only the downloads the config needs
# (rule fetch_inputs: download_dataset for a url or Kaggle source, download_weights for ImageNet weights)
# into the download cache (run.cache); the rest then runs offline.
fetch: $(VENV)/.installed
	$(SNAKEMAKE) fetch_inputs --configfile $(CONFIG)

report: $(VENV)/.installed
	$(SNAKEMAKE) --configfile config/demo.yaml --report results/demo/snakemake-report.zip

# After Snakemake itself was killed: release its lock, then run the same command again.
unlock: $(VENV)/.installed
	$(SNAKEMAKE) --unlock --configfile config/demo.yaml

# The fast tier: unit tests that start no process and build no VGG16 (docs/testing.md).
FAST_TIER := not slow and not integration and not system and not network

# make test runs in pytest-xdist workers (0: one process): the fast tier in FAST_TEST_WORKERS, one per CPU
# (its tests never wait, and each worker imports TensorFlow and the package again), under coverage, each
# worker's combined (pyproject.toml: patch = subprocess); the rest in TEST_WORKERS, one more than the CPUs,
# as its workers sometimes wait (on a shared run, on the cluster's queue), each test module in one worker, the
# longest modules first (tests/conftest.py). docs/testing.md has the timings.
FAST_TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(os.cpu_count() or 1)")
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

# Every test: the fast tier first, measured (tools/fast_tier_coverage.py fails when it calls into no
# function of some package module), then the rest.
test: $(VENV)/.installed
	bash tests/system_deps.sh
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run --source=scripts/poolkit -m pytest -m "$(FAST_TIER)" -n $(FAST_TEST_WORKERS)
	$(BIN)/python -m coverage combine -q
	$(BIN)/python tools/fast_tier_coverage.py
	$(BIN)/python -m pytest -m "not ($(FAST_TIER))" -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "$(FAST_TIER)"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/mypy
	$(SNAKEMAKE) --lint --configfile config/demo.yaml

# After editing pyproject.toml: resolve again and regenerate the conda files from the declaration.
lock: | $(UV)
	$(UV) lock
	$(PYTHON) tools/conda_env.py

# Is uv.lock current with pyproject.toml? (needs the package index)
lock-check: | $(UV)
	$(UV) lock --check

conda-env:
	$(PYTHON) tools/conda_env.py

# config/README.md's key tables come from the schema; tests fail when they differ.
config-docs: $(VENV)/.installed
	$(BIN)/python tools/config_docs.py --schema workflow/schemas/config.schema.yaml --readme config/README.md

bench: $(VENV)/.installed
	$(BIN)/python tools/bench.py --out results/benchmarks
	$(BIN)/python tools/precision_agreement.py --out results/benchmarks

# The real config at full size (synthetic images of Car or Truck's size, random weights), from scratch.
bench-full: $(VENV)/.installed
	$(BIN)/python tools/bench_full.py --out results/benchmarks/full

# Every run's outputs; the download cache (resources/cache, config key run.cache) is kept: `make clean-cache`
# removes it (the next run of a real config downloads again).
clean:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find resources -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} + 2>/dev/null || true
	rm -rf logs benchmarks .snakemake

clean-cache:
	rm -rf resources/cache
