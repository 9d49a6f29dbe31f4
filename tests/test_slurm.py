"""The workflow on a real single-node SLURM cluster with accounting (tests/slurm/cluster.sh).

Skipped, with the reason, where the cluster cannot be started (not root, packages missing).
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

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
def cluster():
    """Start munge, MariaDB, slurmdbd, slurmctld and slurmd; stop exactly those afterwards."""
    # Not under pytest's private tmp folder: the munge and mysql users must reach it.
    state = Path(tempfile.mkdtemp(prefix="slurm-state-"))
    state.chmod(0o755)
    started = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True)
    try:
        if started.returncode == 77:
            pytest.skip(f"no SLURM cluster here: {started.stderr.strip()}")
        assert started.returncode == 0, f"cluster start failed:\n{started.stdout}\n{started.stderr}"
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    finally:
        stopped = subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True, text=True)
        print(stopped.stdout, stopped.stderr)
        shutil.rmtree(state, ignore_errors=True)


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
    env: dict, workdir: Path, config: dict, *extra: str
) -> tuple[subprocess.CompletedProcess, list[str]]:
    profile = cluster_profile(workdir / "profile")
    snakemake = snakemake_cmd(workdir, config, "--workflow-profile", str(profile), *extra)
    assert snakemake[1:3] == ["-m", "snakemake"]
    cmd = ["timeout", "1500", snakemake[0], str(STEADY_SNAKEMAKE), *snakemake[3:]]
    cmd.remove("--cores")  # the profile sets the cluster's limits
    cmd.remove("2")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    output = result.stdout + result.stderr
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", output)
    return result, job_ids


def sacct_states(env: dict, job_ids: list[str]) -> dict[str, str]:
    result = subprocess.run(
        ["sacct", "-n", "-X", "-P", "--format=JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(line.split("|") for line in result.stdout.split())


def test_workflow_runs_as_slurm_jobs_and_matches_the_local_run(cluster, tiny_run, tmp_path):
    """Every rule runs (the APS variant alone in the network stage: one_variant_config), as SLURM jobs but
    the local rules, and gives the tiny run's bytes."""
    result, job_ids = run_on_cluster(cluster, tmp_path, one_variant_config("aps_circular"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    local = set(re.findall(r"^localrule (\w+):", output, flags=re.M))
    assert local <= LOCAL_RULES, f"ran outside SLURM: {local - LOCAL_RULES}"
    remote_rules = set(re.findall(r"^\s*rule (\w+):", output, flags=re.M))
    assert {
        "extract_features",
        "variant_features",
        "merge_variant_features",
        "run_trials",
        "fit_head",
        "render_report",
    } <= remote_rules
    assert output.count("rule variant_features:") == 1  # one shard of the one variant
    assert len(job_ids) >= 10
    states = sacct_states(cluster, job_ids)
    assert set(states) == set(job_ids), "sacct does not know every submitted job"
    assert set(states.values()) == {"COMPLETED"}, states
    assert "Group job trials" in output  # the trial shards ran as one grouped SLURM job
    compared = [
        "results/tiny/features/features.parquet",
        "results/tiny/head/metrics.json",
        "results/tiny/invariance/summary_by_jitter.tsv",
        *(f"results/tiny/network/aps_circular/{table}.parquet" for table in ("scores", "copies", "centre")),
        "results/tiny/network/aps_circular/worst_shift/000.parquet",
        *(str(p.relative_to(tiny_run)) for p in (tiny_run / "results/tiny/invariance/trials").glob("*.parquet")),
    ]
    assert files_that_differ(tiny_run, tmp_path, compared) == []
    assert variant_rows_that_differ(tiny_run, tmp_path, "aps_circular") == []


def test_a_failing_job_fails_the_cluster_run_and_shows_its_log(cluster, tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"these are not VGG16 weights")
    config = tiny_config(weights={"source": "path", "path": str(junk)})
    # Only the failing job: after a failure Snakemake waits for the jobs already running (a minute here)
    result, job_ids = run_on_cluster(cluster, tmp_path / "work", config, "--until", "prepare_weights")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule prepare_weights" in output
    assert "ERROR: weights file" in output and "does not fit the VGG16 notop" in output  # the job's log, shown
    assert "FAILED" in sacct_states(cluster, job_ids).values()
    assert not (tmp_path / "work/resources/tiny/weights/vgg16_notop.weights.h5").exists()


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
