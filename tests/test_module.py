"""The workflow used as a Snakemake module of another one (what `snakedeploy deploy-workflow` writes):
from a local path, from a git repository at a tag through Snakemake's source cache (`gitfile`, the
offline stand-in for `github`), and as snakedeploy writes it; and the missing-GPU stop of a job that was
given a GPU. The README's module recipe runs to the report on the SLURM cluster (tests/test_slurm.py)."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.module_recipe import HOST_SNAKEFILE, https_git_host, run_host, tagged_copy, write_host
from tests.workflow_runs import ROOT, planned_jobs, run_workflow, sha256, tiny_config

pytestmark = pytest.mark.slow


@pytest.mark.network
def test_snakedeploy_writes_a_module_that_runs(tmp_path):
    """`snakedeploy deploy-workflow` from a local repository (uv runs it in a throw-away environment):
    it copies config/ and profiles/ and writes a module Snakefile. For a local repository it names the
    Snakefile by a path relative to that repository, so the test points the module at the same
    repository served on 127.0.0.1 through `github(...)` at the tag, as for a GitHub repository, and
    dry-runs it."""
    uv = ROOT / ".tools/uv/bin/uv"
    if not uv.is_file():
        pytest.skip("uv is not installed in .tools/")
    repo, dest = tmp_path / "maxpool-workflow", tmp_path / "deployed"
    tagged_copy(repo, "v-test", keep_files=True)
    result = subprocess.run(
        [
            str(uv),
            "tool",
            "run",
            "--from",
            "snakedeploy==0.17.1",
            "snakedeploy",
            "deploy-workflow",
            str(repo),
            str(dest),
            "--tag",
            "v-test",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (dest / "config/config.yaml").read_text() == (ROOT / "config/config.yaml").read_text()
    assert (dest / "profiles/slurm/config.yaml").is_file() and (dest / "profiles/default/config.yaml").is_file()
    snakefile = (dest / "workflow/Snakefile").read_text()
    assert "use rule * from maxpool_workflow" in snakefile and 'configfile: "config/config.yaml"' in snakefile
    declared = re.search(r"snakefile:\s*\n\s*(.+)\n", snakefile).group(1)
    (dest / "config/config.yaml").write_text(yaml.safe_dump(tiny_config()))
    env = {**os.environ, "GIT_SSL_NO_VERIFY": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with https_git_host(repo, tmp_path) as host:
        source = f'github("owner/maxpool-workflow", path="workflow/Snakefile", tag="v-test", host="{host}")'
        (dest / "workflow/Snakefile").write_text(snakefile.replace(declared, source))
        jobs = planned_jobs(run_host(dest, "-n", env=env).stdout)
    assert {"extract_features", "render_report"} <= set(jobs), jobs


def test_the_workflow_runs_as_a_module_of_an_empty_project(tiny_run, tmp_path):
    """The module from the checkout's path: the whole DAG planned, and its first stages run with the same
    results as a normal run (the README recipe's test runs a module to the report: tests/test_slurm.py)."""
    host = write_host(tmp_path / "host", HOST_SNAKEFILE.format(snakefile=repr(str(ROOT / "workflow/Snakefile"))))
    run_host(host, "--until", "build_manifest")
    rel = "results/tiny/dataset/manifest.parquet"
    assert sha256(host / rel) == sha256(tiny_run / rel)
    assert not (host / "results/tiny/features").exists()
    jobs = planned_jobs(run_host(host, "-n").stdout)  # the rest of the DAG, through the module
    assert "render_report" in jobs and "build_manifest" not in jobs, jobs


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Snakemake 9.27.1: LocalGitFile.join() fails on a script path (TypeError); github() works",
)
def test_the_workflow_runs_as_a_module_from_a_local_git_repository_at_a_tag(tmp_path):
    """`gitfile(...)`, the offline stand-in for `github(...)`, fails in Snakemake 9.27.1 for any rule with
    `script:` (a bug of LocalGitFile.join); strict, so that a Snakemake release that fixes it is noticed."""
    repo = tmp_path / "remote"
    tagged_copy(repo, "v-test")
    source = f'gitfile({str(repo)!r}, path="workflow/Snakefile", tag="v-test")'
    run_host(write_host(tmp_path / "host", HOST_SNAKEFILE.format(snakefile=source)), "-n")


def test_a_job_given_a_gpu_that_tensorflow_cannot_use_stops_before_any_work(tiny_run, tmp_path):
    """On this project's CPU machines: the GPU request from the profile reaches the feature job, which
    stops with one ERROR line naming what to install, and writes nothing. In a copy of the tiny run
    without its features, so that the feature job is the one job to run."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    if tf.test.is_built_with_cuda() and tf.config.list_physical_devices("GPU"):
        pytest.skip("a usable GPU is present: nothing to refuse")
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    for made_by_the_job in ("results/tiny/features", "logs/tiny/extract_features"):
        shutil.rmtree(workdir / made_by_the_job)
    gpu = ("--set-resources", "extract_features:gpu=1")
    result = run_workflow(workdir, tiny_config(), *gpu, "--until", "extract_features", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and planned_jobs(output) == {"extract_features": 1}, output[-3000:]
    logs = sorted((workdir / "logs/tiny/extract_features").glob("*.log"))  # the shard(s) that started
    assert logs
    for path in logs:
        log = path.read_text()
        errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
        assert len(errors) == 1 and "asked for a GPU" in errors[0] and "make install-gpu" in errors[0], log[-2000:]
        assert "Traceback" not in log and "[features" not in log  # stopped before any image was read
    assert not list((workdir / "results/tiny/features").glob("shards/*.parquet"))
