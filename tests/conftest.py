"""Shared fixtures: complete runs of the tiny config (session-scoped, reused by several modules)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import ROOT, run_workflow, snakemake_base, tiny_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny config (2 feature shards, 3 network shards per variant) as the
    workflow catalog runs `.test/`: a copy of the folder as the working directory, its config/config.yaml
    read by the Snakefile's own `configfile:` (no --configfile). Its terminal output in run-output.txt."""
    workdir = tmp_path_factory.mktemp("tiny") / "test"
    shutil.copytree(
        ROOT / ".test", workdir, ignore=shutil.ignore_patterns("results", "resources", "logs", ".snakemake")
    )
    result = subprocess.run([*snakemake_base(workdir), "--cores", "2"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    (workdir / "run-output.txt").write_text(result.stdout + result.stderr)
    (workdir / "test-config.yaml").write_text(yaml.safe_dump(tiny_config()))  # what later commands name
    return workdir


@pytest.fixture(scope="session")
def unsharded_run(tmp_path_factory) -> Path:
    """The same config from scratch in another folder, with one feature shard and one network shard
    per base variant."""
    config = tiny_config(features={"shards": 1})
    config["invariance"]["network"]["shards"] = 1
    workdir = tmp_path_factory.mktemp("tiny_unsharded")
    run_workflow(workdir, config)
    return workdir
