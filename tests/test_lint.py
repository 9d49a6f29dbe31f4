"""The workflow's own tidiness checks: snakemake --lint, snakefmt, ruff, dry runs."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow_runs import snakemake_base

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration  # every check here runs a tool as a process


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.mark.parametrize("config", ["config/demo.yaml", "config/config.yaml"])
def test_snakemake_lint_is_clean(config):
    result = run(sys.executable, "-m", "snakemake", "--lint", "--configfile", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


@pytest.mark.parametrize("config", ["config/config.yaml", "config/demo.yaml"])
def test_dry_run_plans_every_stage(config, tmp_path):
    result = subprocess.run(
        [*snakemake_base(tmp_path), "-n", "--configfile", str(ROOT / config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for rule in (
        "get_dataset",
        "build_manifest",
        "prepare_weights",
        "extract_features",
        "run_trials",
        "fit_head",
        "render_report",
    ):
        assert rule in result.stdout
    if config == "config/config.yaml":
        assert "download_weights" in result.stdout  # ImageNet weights are fetched first
        assert "download_dataset" in result.stdout  # and the Kaggle dataset
        assert result.stdout.count("rule extract_features:") == 4  # features.shards: 4


def test_snakefmt_is_clean():
    result = run(str(BIN / "snakefmt"), "--check", "workflow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    check = run(str(BIN / "ruff"), "check", ".")
    assert check.returncode == 0, check.stdout
    form = run(str(BIN / "ruff"), "format", "--check", ".")
    assert form.returncode == 0, form.stdout
