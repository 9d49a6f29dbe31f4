"""The workflow on a real single-node SLURM cluster with accounting (tests/slurm/cluster.sh), set up as
the README's module recipe says.

Where the cluster cannot be started (not root, packages missing), the recipe runs locally and the test is
then reported skipped with the reason; the other cluster tests are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import jpeg_bytes, make_layout
from tests.module_recipe import readme_recipe_project, recipe_problems, run_host
from tests.workflow_runs import (
    ROOT,
    files_that_differ,
    one_variant_config,
    snakemake_cmd,
    tiny_config,
    variant_rows_that_differ,
)

pytestmark = [pytest.mark.slow, pytest.mark.system]
CLUSTER = ROOT / "tests/slurm/cluster.sh"
# python -m snakemake with the plugin's status checks every 2 s (its own back off by 10 s a check)
STEADY_SNAKEMAKE = ROOT / "tests/slurm/steady_snakemake.py"
LOCAL_RULES = {"download_dataset", "get_dataset", "download_weights", "record_provenance", "all"}


@pytest.fixture(scope="module")
def slurm() -> Iterator[dict[str, str] | str]:
    """Start munge, MariaDB, slurmdbd, slurmctld and slurmd; stop exactly those afterwards. Yields the
    environment that reaches the cluster, or why no cluster could be started."""
    # Not under pytest's private tmp folder: the munge and mysql users must reach it.
    state = Path(tempfile.mkdtemp(prefix="slurm-state-"))
    state.chmod(0o755)
    started = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True)
    try:
        if started.returncode == 77:
            yield f"no SLURM cluster here: {started.stderr.strip()}"
            return
        assert started.returncode == 0, f"cluster start failed:\n{started.stdout}\n{started.stderr}"
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    finally:
        stopped = subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True, text=True)
        print(stopped.stdout, stopped.stderr)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(slurm: dict[str, str] | str) -> dict[str, str]:
    """The environment that reaches the test cluster; the test is skipped where none could be started."""
    if isinstance(slurm, str):
        pytest.skip(slurm)
    return slurm


def node_memory_mb() -> int:
    """RealMemory of the test cluster's node, as tests/slurm/cluster.sh sets it (total less 2 GiB)."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    return total_kb // 1024 - 2048


def cluster_profile(folder: Path) -> Path:
    """The shipped slurm profile, its resources included, with this test cluster's partition, account and
    size: memory above what the one node has is lowered to it (sbatch refuses such jobs), threads to half
    its cores."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update({"slurm_partition": "debug", "slurm_account": "pooltest"})
    profile["cores"] = os.cpu_count()
    # Half the node's cores at most, so that two jobs share it as jobs share a cluster's nodes (with every
    # core per job, the one node would run the DAG one job at a time).
    half = max(1, (os.cpu_count() or 2) // 2)
    profile["set-threads"] = {rule: min(n, half) for rule, n in profile["set-threads"].items()}
    for resources in profile["set-resources"].values():
        resources["mem_mb"] = min(resources["mem_mb"], node_memory_mb())
    profile["slurm-init-seconds-before-status-checks"] = 2
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def run_on_cluster(
    env: dict[str, str], profile_dir: Path, *snakemake_args: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Snakemake (``snakemake_args``, in ``cwd``) on the test cluster with the shipped slurm profile, its
    status checks steady; returns the finished process and the SLURM job ids it submitted."""
    profile = cluster_profile(profile_dir)
    cmd = ["timeout", "1500", sys.executable, str(STEADY_SNAKEMAKE), "--workflow-profile", str(profile)]
    result = subprocess.run([*cmd, *snakemake_args], capture_output=True, text=True, env=env, cwd=cwd, check=False)
    output = result.stdout + result.stderr
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", output)
    return result, job_ids


def workflow_args(workdir: Path, config: dict, *extra: str) -> list[str]:
    """The arguments of :func:`snakemake_cmd` after ``python -m snakemake``, less ``--cores`` (the profile
    sets the cluster's limits)."""
    command = snakemake_cmd(workdir, config, *extra)
    assert command[1:3] == ["-m", "snakemake"]
    args = command[3:]
    index = args.index("--cores")
    return args[:index] + args[index + 2 :]


def sacct_states(env: dict, job_ids: list[str]) -> dict[str, str]:
    result = subprocess.run(
        ["sacct", "-n", "-X", "-P", "--format=JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(line.split("|") for line in result.stdout.split())


# The recipe's run repeats the tiny run, with one network variant (one_variant_config): the sharded run has
# the other one.
RECIPE_VARIANT = "max"
SAME_AS_THE_TINY_RUN = [
    "results/tiny/dataset/manifest.parquet",
    "results/tiny/features/features.parquet",
    "results/tiny/features/maps.parquet",
    "results/tiny/head/metrics.json",
    "results/tiny/head/heads.tsv",
    "results/tiny/invariance/summary_by_jitter.tsv",
    *(f"results/tiny/network/{RECIPE_VARIANT}/{table}.parquet" for table in ("scores", "copies", "centre")),
    f"results/tiny/network/{RECIPE_VARIANT}/worst_shift/000.parquet",
]


def slurm_run_problems(result: subprocess.CompletedProcess, job_ids: list[str], env: dict[str, str]) -> list[str]:
    """What shows that a finished cluster run did not run as SLURM jobs: rules run outside SLURM but the
    local ones, a stage's rule missing, too few jobs, jobs sacct does not know or did not see complete, the
    trial shards not grouped into one job."""
    output = result.stdout + result.stderr
    problems = []
    local = set(re.findall(r"^localrule (\w+):", output, flags=re.M))
    if not local <= LOCAL_RULES:
        problems.append(f"ran outside SLURM: {local - LOCAL_RULES}")
    remote = set(re.findall(r"^\s*rule (\w+):", output, flags=re.M))
    stages = {
        "extract_features",
        "variant_features",
        "merge_variant_features",
        "run_trials",
        "fit_head",
        "render_report",
    }
    if not stages <= remote:
        problems.append(f"not run as SLURM jobs: {stages - remote}")
    if output.count("rule variant_features:") != 1:
        problems.append("not one shard of the one variant")
    if len(job_ids) < 10:
        problems.append(f"only {len(job_ids)} SLURM jobs")
    states = sacct_states(env, job_ids) if job_ids else {}
    if set(states) != set(job_ids) or set(states.values()) != {"COMPLETED"}:
        problems.append(f"sacct's states of the jobs {job_ids}: {states}")
    if "Group job trials" not in output:
        problems.append("the trial shards did not run as one grouped SLURM job")
    return problems


@pytest.mark.network  # the recipe's pip builds the package with hatchling from PyPI
def test_the_readme_module_recipe_runs_as_slurm_jobs_with_the_local_runs_bytes(slurm, tiny_run, tmp_path):
    """The README's module recipe verbatim (tests/module_recipe.py: the package pip-installed at the
    release's tag, a project whose Snakefile uses every rule of `github(...)` at that tag, served on
    127.0.0.1), run to the report with the shipped slurm profile: every rule as SLURM jobs but the local
    ones, each job importing the installed package, and the tiny run's bytes (one network variant). Where no
    cluster starts, the recipe runs locally, checked the same, and the test is reported skipped."""
    config = one_variant_config(RECIPE_VARIANT)
    on_cluster = not isinstance(slurm, str)
    with readme_recipe_project(tmp_path, config, base_env=slurm if on_cluster else None) as project:
        if on_cluster:
            result, job_ids = run_on_cluster(project.env, tmp_path / "profile", cwd=project.host)
            assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
        else:
            run_host(project.host, env=project.env)
    assert recipe_problems(project) == []
    trials = [str(p.relative_to(tiny_run)) for p in (tiny_run / "results/tiny/invariance/trials").glob("*.parquet")]
    assert trials and files_that_differ(tiny_run, project.host, [*SAME_AS_THE_TINY_RUN, *trials]) == []
    assert variant_rows_that_differ(tiny_run, project.host, RECIPE_VARIANT) == []
    if not on_cluster:
        pytest.skip(f"the recipe ran locally: {slurm}")
    assert slurm_run_problems(result, job_ids, project.env) == []


def test_a_failing_job_fails_the_cluster_run_and_shows_its_log(cluster, tmp_path):
    """A local dataset with a truncated JPEG under `bad_images: fail`: the manifest job fails on SLURM."""
    make_layout(tmp_path / "images", per_class=3)
    good = jpeg_bytes(99, size=(64, 48))
    (tmp_path / "images/train/Car/a_truncated.jpeg").write_bytes(good[: len(good) // 3])
    config = tiny_config(dataset={"source": "local", "local": {"path": str(tmp_path / "images")}, "bad_images": "fail"})
    # Only the failing job: after a failure Snakemake waits for the jobs already running (a minute here)
    args = workflow_args(tmp_path / "work", config, "--until", "build_manifest")
    result, job_ids = run_on_cluster(cluster, tmp_path / "work/profile", *args)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule build_manifest" in output
    errors = [line for line in output.splitlines() if line.startswith("ERROR:") and "a_truncated.jpeg" in line]
    assert errors and "bad_images" in errors[0], output[-4000:]  # the job's log, shown
    assert "FAILED" in sacct_states(cluster, job_ids).values()
    assert not (tmp_path / "work/results/tiny/dataset/manifest.parquet").exists()


def stale_link_case(tmp_path: Path, cluster_name: str, daemons: list[tuple[str, int]]) -> tuple[Path, dict]:
    """A link at a moved default location to an earlier test cluster's slurm.conf, with its pids file."""
    other = tmp_path / "earlier"
    other.mkdir()
    (other / "slurm.conf").write_text(f"ClusterName={cluster_name}\n")
    (other / "pids").write_text("".join(f"{name} {pid}\n" for name, pid in daemons))
    link = tmp_path / "etc/slurm/slurm.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to(other / "slurm.conf")
    return link, {**os.environ, "CLUSTER_CONF_LINK": str(link)}


@pytest.mark.parametrize(
    ("cluster_name", "daemon_alive", "removed"),
    [("pooltest", False, True), ("pooltest", True, False), ("production", False, False)],
    ids=["dead-test-cluster", "live-test-cluster", "someone-elses"],
)
def test_only_a_link_left_by_a_dead_test_cluster_is_cleared(tmp_path, cluster_name, daemon_alive, removed):
    """No SLURM needed: cluster.sh clear-stale on a link to a test cluster's config (cluster pooltest,
    pids file beside it) whose daemons are gone, still running, or to another cluster's config."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid = sleeper.pid if daemon_alive else 2**22 + 1  # above pid_max's default: no such process
        link, env = stale_link_case(tmp_path, cluster_name, [("sleep", pid)])
        script = ROOT / "tests/slurm/cluster.sh"
        done = subprocess.run(
            ["bash", str(script), "clear-stale", str(tmp_path / "new")], env=env, text=True, capture_output=True
        )
        assert done.returncode == 0, done.stderr
        assert link.is_symlink() is not removed
    finally:
        sleeper.kill()
        sleeper.wait()
