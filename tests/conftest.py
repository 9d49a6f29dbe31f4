"""Shared fixtures: complete runs of the tiny config (session-scoped, reused by several modules)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import ROOT, kill_9_during_features, run_workflow, snakemake_base, tiny_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny config (one shard per stage) as the
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
def sharded_run(tmp_path_factory) -> Path:
    """The same config from scratch in another folder, with 2 feature shards and 3 network shards per
    base variant (the tiny run has one of each), up to the stages that read the shards; killed with
    SIGKILL while its first feature job reads images, then recovered as the docs say (unlock, then
    the same command).
    ``killed-during-features.json`` records whether the kill interrupted the feature stage. One run
    serves the sharding and the kill -9 tests."""
    config = tiny_config(features={"shards": 2})
    config["invariance"]["network"]["shards"] = 3
    workdir = tmp_path_factory.mktemp("tiny_sharded")
    sharded_stages = ("--until", "fit_head", "variant_consistency", "worst_shift")  # not trials, not the report
    interrupted = kill_9_during_features(workdir, config, *sharded_stages)
    (workdir / "killed-during-features.json").write_text(json.dumps(interrupted))
    run_workflow(workdir, config, "--unlock")
    run_workflow(workdir, config, *sharded_stages)
    return workdir
