"""The workflow used as a Snakemake module of another one (what `snakedeploy deploy-workflow` writes):
from a local path, and from a git repository at a tag through Snakemake's source cache (`gitfile`, the
offline stand-in for `github`); and the missing-GPU stop of a job that was given a GPU."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import ROOT, run_workflow, tiny_config

pytestmark = pytest.mark.slow

HOST_SNAKEFILE = """from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


module maxpool:
    snakefile:
        {snakefile}
    config:
        config


use rule * from maxpool
"""
SAME = [
    "results/dataset/manifest.parquet",
    "results/features/features.parquet",
    "results/features/maps.parquet",
    "results/invariance/summary_by_jitter.tsv",
    "results/head/metrics.json",
    "results/head/heads.tsv",
    "results/head/shift_consistency.tsv",
]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_host(host: Path, snakefile: str) -> None:
    """An empty project with its own config whose Snakefile uses every rule of the module ``snakefile``
    (a Snakefile directive value); run it and check the report was made."""
    (host / "config").mkdir(parents=True)
    (host / "workflow").mkdir()
    (host / "config/config.yaml").write_text(yaml.safe_dump(tiny_config()))
    (host / "workflow/Snakefile").write_text(HOST_SNAKEFILE.format(snakefile=snakefile))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=host, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (host / "results/report.html").stat().st_size > 100_000


def test_the_workflow_runs_as_a_module_of_an_empty_project(tiny_run, tmp_path):
    """The module from the checkout's path: same results as a normal run."""
    run_host(tmp_path / "host", repr(str(ROOT / "workflow/Snakefile")))
    for rel in SAME:
        assert sha(tmp_path / "host" / rel) == sha(tiny_run / rel), rel


def tagged_copy(repo: Path, tag: str) -> None:
    """A git repository at ``repo`` holding this checkout's files as they are now (tracked and untracked
    but not ignored), committed and tagged ``tag``: what a user's module would fetch from GitHub."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, files):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(source.read_bytes())
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    subprocess.run([*git, "tag", tag], check=True)
    for entry in repo.iterdir():  # only the git database is left: nothing can be read from a working tree
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def test_the_workflow_runs_as_a_module_from_a_git_source_at_a_tag(tiny_run, tmp_path):
    """`gitfile(...)` reads the Snakefile, rule files, scripts, schema and captions from a git repository
    at a tag through the source cache, as `github(...)` does: no file of a working tree is read, and
    poolkit comes from the environment. Results are byte-identical to a normal run."""
    repo = tmp_path / "remote"
    tagged_copy(repo, "v-test")
    source = f'gitfile({str(repo)!r}, path="workflow/Snakefile", tag="v-test")'
    host = tmp_path / "host"
    run_host(host, source)
    for rel in SAME:
        assert sha(host / rel) == sha(tiny_run / rel), rel


def test_catalog_metadata_names_the_usage():
    meta = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = meta["usage"]
    flags = usage["mandatory-flags"]["flags"].split()
    assert flags[0] == "--configfile" and (ROOT / flags[1]).is_file(), flags  # names a config that exists
    assert "profiles/slurm" in usage["mandatory-flags"]["desc"]
    assert usage["software-stack-deployment"]["conda"] is True and (ROOT / "environment.yml").is_file()
    assert usage["report"] is True
    assert (ROOT / "profiles/default/config.yaml").is_file() and (ROOT / "profiles/slurm/config.yaml").is_file()
    assert (ROOT / "workflow/profiles").resolve() == (ROOT / "profiles").resolve()


def test_a_job_given_a_gpu_that_tensorflow_cannot_use_stops_before_any_work(tmp_path):
    """On this project's CPU machines: the GPU request from the profile reaches the feature job, which
    stops with one ERROR line naming what to install, and writes nothing."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    if tf.test.is_built_with_cuda() and tf.config.list_physical_devices("GPU"):
        pytest.skip("a usable GPU is present: nothing to refuse")
    result = run_workflow(tmp_path, tiny_config(), "--set-resources", "extract_features:gpu=1", "--until",
                          "extract_features", check=False)  # fmt: skip
    assert result.returncode != 0
    log = (tmp_path / "logs/extract_features/000.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "asked for a GPU" in errors[0] and "make install-gpu" in errors[0], log[-2000:]
    assert "Traceback" not in log and "[features" not in log  # stopped before any image was read
    assert not list((tmp_path / "results/features").glob("shards/*.parquet"))
