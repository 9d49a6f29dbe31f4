"""Shared fixtures: complete runs of the tiny config (session-scoped, reused by several modules)."""

from pathlib import Path

import pytest

from tests.workflow_runs import run_workflow, tiny_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny config (2 feature shards, 3 network shards per variant); its
    terminal output in run-output.txt."""
    workdir = tmp_path_factory.mktemp("tiny")
    result = run_workflow(workdir, tiny_config())
    (workdir / "run-output.txt").write_text(result.stdout + result.stderr)
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
