"""tools/dag_schedule.py on hand-made DAGs: the critical path, the list scheduler's walls and the GPU
projection worked out by hand; the DAG read from a dry run's job list."""

import importlib.util
import sys

import pytest

from tests.workflow_runs import ROOT


def load_tool():
    spec = importlib.util.spec_from_file_location("dag_schedule", ROOT / "tools/dag_schedule.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["dag_schedule"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tool = load_tool()
Job = tool.Job


def dag(*jobs):
    return {job.name: job for job in jobs}


def diamond():
    """a (3 s) -> b (2 s) and c (4 s) -> d (1 s)."""
    return dag(
        Job("a", "r", 3.0),
        Job("b", "r", 2.0, ("a",)),
        Job("c", "r", 4.0, ("a",)),
        Job("d", "r", 1.0, ("b", "c")),
    )


def cpu(job):
    return None if job.local else "cpu"


def test_total_and_critical_path_by_hand():
    jobs = diamond()
    assert tool.total_job_time(jobs) == 10.0
    assert tool.critical_path(jobs) == (8.0, ["a", "c", "d"])  # 3 + 4 + 1
    assert tool.bottom_levels(jobs) == {"a": 8.0, "b": 3.0, "c": 5.0, "d": 1.0}


def test_list_scheduler_walls_by_hand():
    jobs = diamond()
    assert tool.list_schedule(jobs, {"cpu": 1}, cpu) == 10.0  # one after another
    # two workers: a 0-3; then c (longer path) and b side by side, c ends at 7; d 7-8: the critical path
    assert tool.list_schedule(jobs, {"cpu": 2}, cpu) == 8.0
    assert tool.list_schedule(jobs, {"cpu": 50}, cpu) == 8.0
    # 4, 3, 3 on two workers: 4 and 3 at 0, the other 3 at 3: ends at 6
    flat = dag(Job("x", "r", 4.0), Job("y", "r", 3.0), Job("z", "r", 3.0))
    assert tool.list_schedule(flat, {"cpu": 2}, cpu) == 6.0
    # a local job takes no worker: e (5 s) runs beside a on the one worker, d waits for it and for b, c
    local = dag(*diamond().values(), Job("e", "localrule", 5.0, local=True))
    local["d"] = Job("d", "r", 1.0, ("b", "c", "e"))
    assert tool.list_schedule(local, {"cpu": 1}, cpu) == 10.0
    assert tool.critical_path(local)[0] == 8.0


def test_slurm_startup_and_the_gpu_projection_by_hand():
    jobs = dag(
        Job("prepare", "prepare_weights", 3.0),
        Job("v0", "variant_features", 22.0, ("prepare",)),
        Job("v1", "variant_features", 12.0, ("prepare",)),
        Job("merge", "merge_variant_features", 1.0, ("v0", "v1")),
        Job("fetch", "download_weights", 2.0, local=True),
    )
    slurm = tool.with_slurm_startup(jobs, 7.0)
    assert [slurm[n].seconds for n in ("prepare", "v0", "merge", "fetch")] == [10.0, 29.0, 8.0, 2.0]
    gpu = tool.on_gpus(jobs, {"v0": 2.0, "v1": 2.0}, speedup=10.0, extra_startup=1.0)
    assert gpu["v0"].seconds == pytest.approx(2 + 1 + 20 / 10) and gpu["v1"].seconds == pytest.approx(4.0)
    assert gpu["prepare"].seconds == 3.0
    figures = tool.cluster_figures(jobs, {"v0": 2.0, "v1": 2.0}, nodes=(1, 2), gpus=1, gpu_cpu_nodes=1, speedup=10.0)
    # with 7 s each (not fetch): prepare 10, v0 29, v1 19, merge 8; total 68; path 10 + 29 + 8
    assert figures["total_job_s"] == 68.0 and figures["critical_path_s"] == 47.0
    assert figures["critical_path"] == ["prepare", "v0", "merge"]
    assert figures["walls_s"] == {"1": 66.0, "2": 47.0}  # fetch (local) runs beside: 10 + 29 + 19 + 8
    # GPU: v0 = 2 + 10 + 27/10 = 14.7, v1 = 2 + 10 + 17/10 = 13.7, one GPU: 10 + 14.7 + 13.7 + 8
    assert figures["gpu"]["wall_s"] == pytest.approx(46.4)


DRY_RUN = """\
[Sat Dec  5 02:11:28 2026]
localrule get:
    output: images
    jobid: 3
    reason: Forced execution
[Sat Dec  5 02:11:28 2026]
rule shard:
    input: images
    output: out/0.parquet, out/0.json
    log: logs/shard/0.log
    jobid: 2
    benchmark: benchmarks/run/shard/0.tsv
    wildcards: shard=0
[Sat Dec  5 02:11:28 2026]
rule report:
    input: out/0.parquet, benchmarks/run/shard/0.tsv, images
    output: report.html
    jobid: 1
    benchmark: benchmarks/run/report/report.tsv
[Sat Dec  5 02:11:28 2026]
localrule all:
    input: report.html
    jobid: 0
"""


def test_the_dag_from_a_dry_runs_job_list():
    parsed = tool.parse_dry_run(DRY_RUN)
    assert [(job["rule"], job["local"]) for job in parsed] == [
        ("get", True),
        ("shard", False),
        ("report", False),
        ("all", True),
    ]
    jobs = tool.build_dag(parsed, lambda job: {"get": 2, "shard": 5, "report": 1, "all": 0}[job["rule"]])
    assert set(jobs) == {"get", "shard/0", "report/report", "all"}
    assert jobs["shard/0"].deps == ("get",) and jobs["report/report"].deps == ("get", "shard/0")
    assert jobs["all"].deps == ("report/report",) and jobs["get"].local
    assert tool.critical_path(jobs) == (8.0, ["get", "shard/0", "report/report", "all"])
