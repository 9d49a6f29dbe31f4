"""Shared fixtures: complete runs of the tiny config (built once per test session and reused by
several modules, also across pytest-xdist's workers)."""

import json
import os
import shutil
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from tests.workflow_runs import ROOT, kill_9_during_features, run_workflow, sharded_config, snakemake_base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name``, made by ``build(folder)`` once per test session and then shared: under
    pytest-xdist by the first worker that asks, while the others wait for it (a file lock). A build that
    failed fails every test that asks again, with its error, instead of being repeated."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with FileLock(root / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"the shared run {name!r} failed earlier:\n{failed.read_text()}")
        if not done.exists():
            try:
                build(folder)
            except BaseException:
                failed.write_text(traceback.format_exc())
                raise
            done.touch()
    return folder


def build_tiny_run(workdir: Path) -> None:
    """One complete run of the tiny config as the catalog runs `.test/` (see :func:`tiny_run`)."""
    shutil.copytree(
        ROOT / ".test", workdir, ignore=shutil.ignore_patterns("results", "resources", "logs", ".snakemake")
    )
    result = subprocess.run([*snakemake_base(workdir), "--cores", "2"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    (workdir / "run-output.txt").write_text(result.stdout + result.stderr)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny config (one shard per stage) as the workflow catalog runs `.test/`:
    a copy of the folder as the working directory, its config/config.yaml read by the Snakefile's own
    `configfile:` (no --configfile). Its terminal output in run-output.txt."""
    return built_once(tmp_path_factory, "tiny", build_tiny_run)


def build_sharded_run(workdir: Path) -> None:
    """The sharded run (see :func:`sharded_run`)."""
    config = sharded_config()
    variants = config["invariance"]["network"]["variants"]
    # The merged shards as targets (`--until merge_features merge_variant_features` stops early: Snakemake
    # 9.27's "Out of jobs ready to be started").
    merged_shards = (
        "results/tiny/features/features.parquet",
        *(f"results/tiny/network/{v}/scores.parquet" for v in variants),
    )
    interrupted = kill_9_during_features(workdir, config, *merged_shards)
    (workdir / "killed-during-features.json").write_text(json.dumps(interrupted))
    run_workflow(workdir, config, "--unlock")
    run_workflow(workdir, config, *merged_shards)


@pytest.fixture(scope="session")
def sharded_run(tmp_path_factory) -> Path:
    """The same config from scratch in another folder but for the network variants (aps_circular alone), with
    2 feature shards and 3 network shards (the tiny run has one of each), up to the merges of the shards; killed with
    SIGKILL while its first feature job reads images, then recovered as the docs say (unlock, then
    the same command).
    ``killed-during-features.json`` records whether the kill interrupted the feature stage. One run
    serves the sharding and the kill -9 tests."""
    return built_once(tmp_path_factory, "tiny_sharded", build_sharded_run)


# Under pytest-xdist (`make test`: --dist loadscope), each test module runs in one worker, so that its
# module fixtures (a SLURM cluster, a browser, the second config beside the tiny run) are built once.
# The longest modules are handed out first, so that no worker is left with one of them at the end while
# the other has nothing to do; first three that need no other run to start (the cluster's module builds the
# tiny run), so that no worker waits for the tiny run at the start.
LONGEST_FIRST = ("test_sharded.py", "test_slurm.py", "test_inputs.py", "test_runs_apart.py", "test_module.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first (a stable sort: the rest keep their order)."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
