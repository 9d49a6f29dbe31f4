"""The profiles, checked by dry runs of the real Snakefile: the GPU profile adds a GPU request to the
VGG16 rules and changes nothing else; local runs give the VGG16 rules every core they have."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import ROOT, TINY, snakemake_base

FEATURE_RULES = {"extract_features", "variant_features", "worst_shift_features"}
#: The rules that run on several threads: VGG16, and the heads' cross-validation (splits side by side).
MULTICORE_RULES = FEATURE_RULES | {"fit_head", "variant_consistency", "worst_shift"}
GPU_KEYS = {"gpu", "slurm_partition"}


def dry_run(workdir: Path, *extra: str, cpus: set[int] | None = None) -> str:
    """A dry run of the tiny config in ``workdir`` (on the CPUs ``cpus`` only, if given); Snakemake
    picks up profiles/default unless told otherwise."""
    command = [*snakemake_base(workdir), "-n", "--configfile", str(TINY), *extra]
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    result = subprocess.run(command, capture_output=True, text=True, check=False, preexec_fn=pin)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def planned(output: str) -> list[tuple[str, int, dict[str, str]]]:
    """(rule, threads, resources) of every job a dry run lists, grouped jobs included."""
    jobs: list[tuple[str, int, dict[str, str]]] = []
    for line in output.splitlines():
        if match := re.fullmatch(r"\s*(?:local)?rule (\w+):", line):
            jobs.append((match.group(1), 1, {}))
        elif jobs and (match := re.fullmatch(r"\s*threads: (\d+)", line)):
            jobs[-1] = (jobs[-1][0], int(match.group(1)), jobs[-1][2])
        elif jobs and (match := re.fullmatch(r"\s*resources: (.*)", line)):
            jobs[-1][2].update(item.split("=", 1) for item in match.group(1).split(", "))
    return jobs


# --------------------------------------------------------------------------- GPU profile
def gpu_profile_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools/gpu_profile.py"), *args], capture_output=True, text=True)


@pytest.mark.integration
def test_the_committed_gpu_profile_is_the_generated_one(tmp_path):
    """profiles/slurm-gpu is what tools/gpu_profile.py makes of profiles/slurm; a change to
    profiles/slurm that was not carried over fails."""
    assert gpu_profile_tool("--check").returncode == 0, "run: python tools/gpu_profile.py"
    changed = tmp_path / "slurm.yaml"
    changed.write_text((ROOT / "profiles/slurm/config.yaml").read_text().replace("runtime: 120", "runtime: 121"))
    result = gpu_profile_tool("--check", "--slurm", str(changed))
    assert result.returncode == 1 and result.stderr.startswith("ERROR: ")


def test_the_gpu_profile_is_the_slurm_profile_plus_the_gpu_keys():
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    gpu = yaml.safe_load((ROOT / "profiles/slurm-gpu/config.yaml").read_text())
    for rule in FEATURE_RULES:
        assert gpu["set-resources"][rule]["gpu"] == 1 and gpu["set-resources"][rule]["slurm_partition"]
        gpu["set-resources"][rule] = {k: v for k, v in gpu["set-resources"][rule].items() if k not in GPU_KEYS}
    assert gpu == slurm


@pytest.mark.integration
def test_the_gpu_profile_requests_gpus_for_the_feature_rules_and_keeps_every_other_resource(tmp_path):
    """Dry runs with profiles/slurm and profiles/slurm-gpu (the profile's executor is slurm; a dry run
    needs no SLURM): the same jobs with the same threads, mem_mb and runtime; a GPU and the GPU
    partition on the feature jobs only."""
    slurm = planned(dry_run(tmp_path / "slurm", "--workflow-profile", str(ROOT / "profiles/slurm")))
    gpu = planned(dry_run(tmp_path / "gpu", "--workflow-profile", str(ROOT / "profiles/slurm-gpu")))
    assert sorted(rule for rule, _, _ in gpu) == sorted(rule for rule, _, _ in slurm)
    assert {rule for rule, _, _ in gpu} >= FEATURE_RULES
    cpu_side = {(rule, threads, res["mem_mb"], res["runtime"]) for rule, threads, res in slurm}
    gpu_side = {(rule, threads, res["mem_mb"], res["runtime"]) for rule, threads, res in gpu}
    assert gpu_side == cpu_side
    assert ("fit_head", 4, "8000", "120") in gpu_side and ("extract_features", 4, "8000", "180") in gpu_side
    for rule, _, res in gpu:
        if rule in FEATURE_RULES:
            assert res["gpu"] == "1" and res["slurm_partition"] == "your-gpu-partition", (rule, res)
        else:
            assert not GPU_KEYS & set(res), (rule, res)
    assert not any(GPU_KEYS & set(res) for _, _, res in slurm)


def test_the_readme_gpu_recipe_is_the_profile():
    """docs/cluster.md: the command-line recipe (--set-resources replaces the profile's whole set-resources) is gone."""
    section = (
        (ROOT / "docs/cluster.md").read_text().split("### GPU nodes", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    )
    assert "profiles/slurm-gpu" in section and "python tools/gpu_profile.py --partition" in section
    assert "--workflow-profile profiles/" in section and "--set-resources extract_features" not in section


# --------------------------------------------------------------------------- local cores
@pytest.mark.integration
@pytest.mark.parametrize("cores", [1, 8])
def test_the_multicore_rules_use_every_core_a_local_run_has(tmp_path, cores):
    jobs = planned(dry_run(tmp_path, "--cores", str(cores)))
    assert {rule for rule, _, _ in jobs} >= MULTICORE_RULES
    assert {threads for rule, threads, _ in jobs if rule in MULTICORE_RULES} == {cores}
    assert {threads for rule, threads, _ in jobs if rule not in MULTICORE_RULES} == {1}


@pytest.mark.integration
@pytest.mark.parametrize("restricted", [False, True], ids=["all-cpus", "one-cpu"])
def test_a_local_run_uses_the_machines_cores_by_default(tmp_path, restricted):
    """Without --cores, the VGG16 rules get as many threads as the process has CPUs (Snakemake counts
    the CPUs it may run on; pinned to one, it has one)."""
    cpus = {min(os.sched_getaffinity(0))} if restricted else None
    jobs = planned(dry_run(tmp_path, cpus=cpus))
    expected = 1 if restricted else len(os.sched_getaffinity(0))
    assert {threads for rule, threads, _ in jobs if rule in MULTICORE_RULES} == {expected}
