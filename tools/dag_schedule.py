#!/usr/bin/env python
"""What a cluster could make of a run: the DAG's total job time, its critical path and list-scheduler walls.

The jobs and their dependencies come from a dry run of the workflow (``snakemake -n --forceall``: every
job's rule, inputs, outputs and benchmark file; a job depends on the jobs that write its inputs), their
times from Snakemake's benchmark files (``tools/bench_full.py``) or from a projection (measured rates ×
the work of each job). Then:

- total job time: the sum over jobs (what one worker would take, one job after another);
- critical path: the longest chain of dependent jobs by job time: no number of workers runs the DAG
  faster; total / critical path is the most a cluster can gain;
- list-scheduler walls: the makespan of a greedy list scheduler (a free worker takes the ready job with
  the longest path to the end of the DAG, HLFET) on ``n`` workers; local rules (``localrules``: they run
  in Snakemake's own process) take no worker;
- GPUs: the VGG16 jobs on ``g`` GPU workers at an assumed speed-up, everything else on CPU nodes.

Per-job start-up is part of a job's time: a benchmark file times the job's script, TensorFlow's start-up
included; a SLURM job also starts Snakemake again (``SLURM_STARTUP_S``), added to every job that is not
local. ``python tools/dag_schedule.py --help`` prints the figures of a finished run folder.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

#: Snakemake's start-up inside each SLURM job (reading the workflow before the job's script runs): a
#: known figure for this kind of workflow, not measured here (no cluster).
SLURM_STARTUP_S = 7.0
#: The rules that run VGG16 (on a GPU in profiles/slurm-gpu).
VGG16_RULES = ("extract_features", "variant_features", "worst_shift_features")
#: Assumed GPU speed, as a multiple of one 2-core node of the Intel Xeon (AVX-512, AMX) the float32
#: benchmark ran on: 20× its VGG16 rate at 128 px is about 400 images/s = 4 TFLOP/s, a fifth of an
#: A100's float32 peak (19.5 TFLOP/s) without tensor cores, leaving room for JPEG decoding on a few
#: CPU cores and APS's gathers. Not measured: no GPU was available to this project.
GPU_SPEEDUP = 20.0
#: Extra start-up of a GPU job (CUDA and cuDNN initialisation), assumed.
GPU_STARTUP_S = 10.0


@dataclass(frozen=True)
class Job:
    """One job of the DAG: ``name`` (``rule/benchmark stem``, or the rule for a job without a
    benchmark file), its rule, its time in seconds, the jobs it needs, whether it is a local rule."""

    name: str
    rule: str
    seconds: float
    deps: tuple[str, ...] = ()
    local: bool = False


# --------------------------------------------------------------------------- the DAG from a dry run
_FIELD = re.compile(r"^\s+(input|output|benchmark|jobid): (.*)$")
_RULE = re.compile(r"^(local)?rule (\w+):$")


def parse_dry_run(text: str) -> list[dict]:
    """The jobs a ``snakemake -n --forceall`` run lists: ``rule``, ``local``, ``inputs``, ``outputs``
    and ``benchmark`` (or None) of each, in the printed order."""
    jobs: list[dict] = []
    for line in text.splitlines():
        if match := _RULE.match(line.strip()):
            jobs.append(
                {"rule": match.group(2), "local": bool(match.group(1)), "inputs": [], "outputs": [], "benchmark": None}
            )
        elif jobs and (match := _FIELD.match(line)):
            key, value = match.groups()
            if key == "benchmark":
                jobs[-1]["benchmark"] = value.strip()
            elif key in ("input", "output"):
                jobs[-1][key + "s"] += [item.strip() for item in value.split(", ") if item.strip()]
    return jobs


def job_name(job: Mapping) -> str:
    """``rule/stem`` of the job's benchmark file (``variant_features/aps.003``), or the rule."""
    return f"{job['rule']}/{Path(job['benchmark']).stem}" if job["benchmark"] else job["rule"]


def build_dag(parsed: Iterable[Mapping], seconds: Callable[[Mapping], float]) -> dict[str, Job]:
    """The jobs by name, each depending on the jobs that write its inputs (outputs or benchmark files);
    ``seconds(job)`` gives each parsed job's time."""
    parsed = list(parsed)
    writer: dict[str, str] = {}
    for job in parsed:
        for path in [*job["outputs"], *([job["benchmark"]] if job["benchmark"] else [])]:
            writer[path] = job_name(job)
    dag = {}
    for job in parsed:
        name = job_name(job)
        deps = tuple(sorted({writer[path] for path in job["inputs"] if path in writer} - {name}))
        dag[name] = Job(name, job["rule"], float(seconds(job)), deps, job["local"])
    return dag


# --------------------------------------------------------------------------- figures
def _order(jobs: Mapping[str, Job]) -> list[str]:
    """The job names in a topological order (dependencies first)."""
    done: set[str] = set()
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"the DAG has a cycle through {name}")
        for dep in jobs[name].deps:
            visit(dep, (*path, name))
        done.add(name)
        order.append(name)

    for name in sorted(jobs):
        visit(name, ())
    return order


def total_job_time(jobs: Mapping[str, Job]) -> float:
    """The sum of every job's time."""
    return sum(job.seconds for job in jobs.values())


def critical_path(jobs: Mapping[str, Job]) -> tuple[float, list[str]]:
    """The longest chain of dependent jobs by job time: its length in seconds and its jobs, first first."""
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}
    order = _order(jobs)
    for name in order:
        job = jobs[name]
        prior = max(job.deps, key=lambda dep: (finish[dep], dep), default=None)
        finish[name] = job.seconds + (finish[prior] if prior else 0.0)
        before[name] = prior
    if not finish:
        return 0.0, []
    position = {name: i for i, name in enumerate(order)}
    end = max(finish, key=lambda name: (finish[name], position[name]))  # ties: the later job
    length = finish[end]
    chain = []
    last: str | None = end
    while last is not None:
        chain.append(last)
        last = before[last]
    return length, chain[::-1]


def bottom_levels(jobs: Mapping[str, Job]) -> dict[str, float]:
    """Each job's longest path to the end of the DAG, its own time included (the scheduler's priority)."""
    children: dict[str, list[str]] = {name: [] for name in jobs}
    for job in jobs.values():
        for dep in job.deps:
            children[dep].append(job.name)
    level: dict[str, float] = {}
    for name in reversed(_order(jobs)):
        level[name] = jobs[name].seconds + max((level[child] for child in children[name]), default=0.0)
    return level


def list_schedule(jobs: Mapping[str, Job], workers: Mapping[str, int], pool: Callable[[Job], str | None]) -> float:
    """The wall time (makespan) of a greedy list scheduler: whenever a worker of a job's pool is free, it
    starts the ready job with the longest path to the end (ties: by name). ``pool(job)`` names the job's
    pool in ``workers`` (its number of workers), or None for a job that takes no worker (a local rule)."""
    level = bottom_levels(jobs)
    children: dict[str, list[str]] = {name: [] for name in jobs}
    waiting = {name: len(job.deps) for name, job in jobs.items()}
    for job in jobs.values():
        for dep in job.deps:
            children[dep].append(job.name)
    free = dict(workers)
    ready = sorted((name for name, n in waiting.items() if n == 0), key=lambda name: (-level[name], name))
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        held = []
        for name in ready:
            kind = pool(jobs[name])
            if kind is None or free[kind] > 0:
                if kind is not None:
                    free[kind] -= 1
                heapq.heappush(running, (now + jobs[name].seconds, name))
            else:
                held.append(name)
        ready = held
        if not running:
            raise ValueError(f"no worker for {ready[0]} (pool {pool(jobs[ready[0]])!r})")
        now, name = heapq.heappop(running)
        finished = [name]
        while running and running[0][0] == now:
            finished.append(heapq.heappop(running)[1])
        for name in finished:
            kind = pool(jobs[name])
            if kind is not None:
                free[kind] += 1
            for child in children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        ready.sort(key=lambda name: (-level[name], name))
    return now


def with_slurm_startup(jobs: Mapping[str, Job], seconds: float = SLURM_STARTUP_S) -> dict[str, Job]:
    """Every job that is not a local rule, ``seconds`` longer: Snakemake starting inside its SLURM job."""
    return {name: job if job.local else replace(job, seconds=job.seconds + seconds) for name, job in jobs.items()}


def on_gpus(
    jobs: Mapping[str, Job],
    startup: Mapping[str, float],
    speedup: float = GPU_SPEEDUP,
    extra_startup: float = GPU_STARTUP_S,
) -> dict[str, Job]:
    """The VGG16 jobs as they would run on a GPU: their start-up (``startup[name]``, TensorFlow's, part
    of their time) plus ``extra_startup``, and the rest of their time divided by ``speedup``."""
    out = {}
    for name, job in jobs.items():
        if job.rule in VGG16_RULES:
            fixed = min(startup.get(name, 0.0), job.seconds)
            job = replace(job, seconds=fixed + extra_startup + (job.seconds - fixed) / speedup)
        out[name] = job
    return out


def cluster_figures(
    jobs: Mapping[str, Job],
    startup: Mapping[str, float],
    nodes: Iterable[int] = (10, 50, 100),
    gpus: int = 8,
    gpu_cpu_nodes: int = 10,
    speedup: float = GPU_SPEEDUP,
) -> dict:
    """Total job time, critical path, their ratio, and list-scheduler walls on ``nodes`` CPU nodes (one job
    per node, as the benchmark's 2 cores ran it) and on ``gpus`` GPUs for the VGG16 jobs beside
    ``gpu_cpu_nodes`` CPU nodes for the rest; SLURM start-up added to every job that is not local."""
    cluster = with_slurm_startup(jobs)
    total = total_job_time(cluster)
    path, chain = critical_path(cluster)
    walls = {n: list_schedule(cluster, {"cpu": n}, lambda job: None if job.local else "cpu") for n in nodes}
    gpu_jobs = on_gpus(cluster, startup, speedup)
    gpu_path, gpu_chain = critical_path(gpu_jobs)
    gpu_wall = list_schedule(
        gpu_jobs,
        {"gpu": gpus, "cpu": gpu_cpu_nodes},
        lambda job: None if job.local else ("gpu" if job.rule in VGG16_RULES else "cpu"),
    )
    return {
        "jobs": len(jobs),
        "total_job_s": round(total, 1),
        "critical_path_s": round(path, 1),
        "critical_share": round(path / total, 4) if total else None,
        "max_speedup": round(total / path, 1) if path else None,
        "critical_path": chain,
        "walls_s": {str(n): round(wall, 1) for n, wall in walls.items()},
        "gpu": {
            "gpus": gpus,
            "cpu_nodes": gpu_cpu_nodes,
            "speedup_assumed": speedup,
            "total_job_s": round(total_job_time(gpu_jobs), 1),
            "critical_path_s": round(gpu_path, 1),
            "critical_path": gpu_chain,
            "wall_s": round(gpu_wall, 1),
        },
    }


def format_figures(figures: Mapping, label: str) -> list[str]:
    """The figures as printed lines."""
    walls = ", ".join(f"{n} nodes {wall:.0f} s" for n, wall in figures["walls_s"].items())
    gpu = figures["gpu"]
    return [
        f"{label}: {figures['jobs']} jobs; total job time {figures['total_job_s']:.0f} s (SLURM start-up "
        f"{SLURM_STARTUP_S:.0f} s a job included); critical path {figures['critical_path_s']:.0f} s = "
        f"{figures['critical_share']:.1%} of it (target <= 5 %), at most {figures['max_speedup']:.1f}x faster "
        "than one node",
        f"  critical path: {' -> '.join(figures['critical_path'])}",
        f"  list scheduler, nodes of 2 cores: {walls}",
        f"  {gpu['gpus']} GPUs (assumed {gpu['speedup_assumed']:.0f}x a 2-core node on VGG16, +{GPU_STARTUP_S:.0f} s "
        f"start-up) beside {gpu['cpu_nodes']} CPU nodes: wall {gpu['wall_s']:.0f} s, critical path "
        f"{gpu['critical_path_s']:.0f} s",
    ]


# --------------------------------------------------------------------------- a finished run
def benchmark_seconds(workdir: Path, job: Mapping) -> float:
    """A job's time from its benchmark file in ``workdir`` (0 for a job without one: ``all``)."""
    if not job["benchmark"]:
        return 0.0
    lines = (workdir / job["benchmark"]).read_text().splitlines()
    header, values = lines[0].split("\t"), lines[1].split("\t")
    return float(values[header.index("s")])


def tensorflow_startup(workdir: Path, dag: Mapping[str, Job], parsed: Iterable[Mapping]) -> dict[str, float]:
    """Each VGG16 job's start-up: its benchmark time less the work its info JSON times (``seconds``); a
    job without one (worst_shift_features) gets the median of the others."""
    startup = {}
    for job in parsed:
        if job["rule"] in VGG16_RULES:
            info = next((path for path in job["outputs"] if path.endswith(".json")), None)
            if info is not None:
                worked = json.loads((workdir / info).read_text())["seconds"]
                startup[job_name(job)] = max(dag[job_name(job)].seconds - worked, 0.0)
    median = statistics.median(startup.values()) if startup else 0.0
    for job in parsed:
        if job["rule"] in VGG16_RULES and job_name(job) not in startup:
            startup[job_name(job)] = min(median, dag[job_name(job)].seconds)
    return startup


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", required=True, type=Path, help="output of snakemake -n --forceall for the run")
    p.add_argument("--workdir", required=True, type=Path, help="the run's folder (its benchmarks/)")
    args = p.parse_args(argv)
    parsed = parse_dry_run(args.dry_run.read_text())
    dag = build_dag(parsed, lambda job: benchmark_seconds(args.workdir, job))
    figures = cluster_figures(dag, tensorflow_startup(args.workdir, dag, parsed))
    print("\n".join(format_figures(figures, str(args.workdir))))


if __name__ == "__main__":
    main()
