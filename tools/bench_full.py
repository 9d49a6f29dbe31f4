#!/usr/bin/env python
"""The real config at full size, from a fresh folder: what a full run costs and where its time goes.

Runs the whole DAG of ``config/config.yaml`` with two changes that keep its size and need no network:
embedded synthetic images with the Car or Truck split sizes (5,117 training, 5,051 validation) and
seeded random VGG16 weights. Reports the wall time, the VGG16 passes' time (the feature shards and the
base variants' shards, from Snakemake's benchmark files), the share of everything else, the largest
job's peak memory, Snakemake's own peak memory and the disk the run leaves behind. Used for the
README's "What it needs" table (`make bench-full`).

Then what a cluster could make of it (``tools/dag_schedule.py``): from the run's benchmark files and its
DAG (a dry run of the same config), the total job time, the critical path, their ratio and the walls a
list scheduler gives on 10, 50 and 100 nodes of 2 cores and on 8 GPUs; once for the run's own shard
counts and once for the cluster recipe's (``config/cluster.yaml``), whose shard jobs get the times the
run's per-pass rates give them. ``--project`` prints these figures without running anything, from the
rates the float32 run in docs/performance.md measured (a projection).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from poolkit.features import shard_bounds
from poolkit.machine import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dag_schedule  # tools/dag_schedule.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "config/cluster.yaml"
#: Car or Truck's split sizes; the synthetic generator draws equal classes, so these are the nearest.
TRAIN_PER_CLASS, VALID_PER_CLASS = 2558, 2526
VGG16_RULES = dag_schedule.VGG16_RULES

#: What the float32 full-size run measured (docs/performance.md, `make bench-full`, Intel Xeon with AVX-512
#: and AMX, 2 cores, a slow day for that machine): each VGG16 job kind's job time in seconds and its VGG16
#: passes, before the network stage was sharded (4 feature shards; one job per variant: its 10,168
#: images, max excepted, and 12,200 copies), and the other jobs' times. ``--project`` derives per-pass
#: rates from them.
MEASURED_F32: dict[str, dict] = {
    "vgg16": {  # kind: (job seconds, jobs, passes)
        "features": (587.0, 4, 10168),
        "max": (573.0, 1, 12200),
        "blur": (1064.0, 1, 22368),
        "aps": (1123.0, 1, 22368),
        "aps_circular": (1273.0, 1, 22368),
    },
    # seconds per job: fit_head and variant_consistency from that run; run_trials (its slowest shard) and
    # aggregate_trials from `make bench` at the real size; get_dataset (synthetic), build_manifest and
    # extract_pixels measured on 1,016 images of 128 px (6.2, 2.1 and 9.6 s, two jobs sharing 2 cores)
    # and scaled to 10,168 less about 2 s of imports; dataset_examples measured there (15.4 s); the rest
    # measured on the tiny run (prepare_weights 20.9 s, merges 3.6-4.2 s, record_provenance 3.4 s) with
    # room for the real size's tables (merge_features: 4 × 2,542 maps of 4 × 4 × 512 values).
    "other": {
        "get_dataset": 45.0,
        "build_manifest": 20.0,
        "prepare_weights": 21.0,
        "merge_features": 12.0,
        "extract_pixels": 80.0,
        "dataset_examples": 16.0,
        "exercise_figures": 8.0,
        "run_trials": 5.8,
        "aggregate_trials": 8.2,
        "fit_head": 115.0,  # tools/head_bench.py at full size after issue 31's converged paths (c_seeds 1)
        "merge_variant_features": 6.0,
        "variant_consistency": 10.8,
        "worst_shift": 12.0,  # variant_consistency's refits again, on fewer rows (not measured at full size)
        "record_provenance": 4.0,
        "render_report": 8.0,
        "all": 0.0,
    },
}
#: TensorFlow's start-up in a VGG16 job (the job's time less the work its shard JSON times), measured on
#: the tiny run's shards on the same machine kind: 9.1 to 16.6 s, median 10.3 s, two jobs sharing 2 cores.
TF_STARTUP_S = 10.0


def full_size_config(precision: str) -> dict:
    """config/config.yaml with synthetic images of the real size and random weights."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["dataset"] = {
        "source": "synthetic",
        "bad_images": "fail",
        "synthetic": {"seed": 0, "n_train_per_class": TRAIN_PER_CLASS, "n_valid_per_class": VALID_PER_CLASS},
    }
    config["weights"] = {"source": "random", "seed": 0}
    config["features"]["precision"] = precision
    config["report"] = {"title": f"Full-size synthetic run ({precision})"}
    return config


def folder_bytes(folder: Path) -> int:
    """Bytes of every file below ``folder`` (links not followed)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def job_table(work: Path) -> pd.DataFrame:
    """One row per benchmarked job: rule, seconds, peak resident memory (MB)."""
    rows = []
    for tsv in sorted((work / "benchmarks").rglob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        rows.append({"rule": tsv.parent.name, "job": tsv.stem, "s": float(row["s"]), "max_rss_mb": row["max_rss"]})
    return pd.DataFrame(rows)


def run(work: Path, precision: str, cores: int) -> dict:
    """One full run in ``work`` (emptied first); its measures."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "config.yaml").write_text(yaml.safe_dump(full_size_config(precision)))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "workflow/Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
        "--cores",
        str(cores),
    ]
    began = time.perf_counter()
    with (work / "snakemake.log").open("w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - began
    jobs = job_table(work)
    vgg = float(jobs.loc[jobs["rule"].isin(VGG16_RULES), "s"].sum())
    return {
        "precision": precision,
        "wall_s": round(wall, 1),
        "vgg16_s": round(vgg, 1),
        "other_s": round(wall - vgg, 1),
        "other_share": round((wall - vgg) / wall, 3),
        "jobs": {f"{r.rule}/{r.job}": {"s": r.s, "max_rss_mb": r.max_rss_mb} for r in jobs.itertuples()},
        "largest_job_peak_mb": float(jobs["max_rss_mb"].max()),
        "disk_mb": round(folder_bytes(work) / 1e6, 1),
        "results_mb": round(folder_bytes(work / "results") / 1e6, 1),
        "cluster": run_cluster_figures(work, full_size_config(precision), 2 * (TRAIN_PER_CLASS + VALID_PER_CLASS)),
    }


# --------------------------------------------------------------------------- what a cluster could do
def dry_run(work: Path, config: dict) -> str:
    """The job list of ``snakemake -n --forceall`` for ``config`` in ``work`` (nothing runs)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "dry-config.yaml").write_text(yaml.safe_dump(config))
    snakefile, config_file = str(ROOT / "workflow/Snakefile"), str(work / "dry-config.yaml")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        snakefile,
        "--directory",
        str(work),
        "--configfile",
        config_file,
        "-n",
        "--forceall",
        "--cores",
        "2",
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return done.stdout + done.stderr


def cluster_config(config: dict) -> dict:
    """``config`` with the shard counts of the cluster recipe (config/cluster.yaml) over it."""
    overlay = yaml.safe_load(CLUSTER.read_text())
    merged = json.loads(json.dumps(config))
    merged["features"]["shards"] = overlay["features"]["shards"]
    merged["invariance"].setdefault("network", {})["shards"] = overlay["invariance"]["network"]["shards"]
    return merged


def vgg16_passes(config: dict, n_images: int) -> dict[tuple[str, str], int]:
    """The VGG16 passes of every VGG16 job of ``config``: (rule, benchmark stem) -> passes."""
    batch, network = config["features"]["batch_size"], config["invariance"]["network"]
    passes = {}
    shards = config["features"]["shards"]
    for k in range(shards):
        start, stop = shard_bounds(n_images, batch, shards, k)
        passes[("extract_features", f"{k:03d}")] = stop - start
    n_pairs = len(network["protocols"]) * len(network["max_shifts"]) * network["passes"] * network["n_images"]
    n_copies = 2 * n_pairs + network["n_images"]  # poolkit.protocols.copy_plan: both copies, centre crops
    shards = network["shards"]
    for variant in network["variants"]:
        for k in range(shards):
            start, stop = shard_bounds(n_images, batch, shards, k)
            first, last = shard_bounds(n_copies, batch, shards, k)
            images = 0 if variant == "max" else stop - start
            passes[("variant_features", f"{variant}.{k:03d}")] = images + last - first
    worst = network["worst_shift"]
    per_protocol = worst["n_images"] * (2 * worst["max_shift"]) ** 2  # (far) fewer than the validation images
    for variant in network["variants"]:
        for k in range(shards):
            first, last = shard_bounds(per_protocol, batch, shards, k)
            passes[("worst_shift_features", f"{variant}.{k:03d}")] = len(network["protocols"]) * (last - first)
    return passes


def modelled_seconds(
    config: dict, n_images: int, rates: dict[str, float], startup: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Each job's modelled time by name (``rule/stem``): a VGG16 job ``startup`` + its passes / its
    kind's rate (``features`` or the variant); any other job its rule's time in ``other``. And each
    VGG16 job's start-up."""
    times, startups = {}, {}
    for (rule, stem), passes in vgg16_passes(config, n_images).items():
        kind = "features" if rule == "extract_features" else stem.split(".")[0]
        times[f"{rule}/{stem}"] = startup + passes / rates[kind]
        startups[f"{rule}/{stem}"] = startup
    return times, startups


def modelled_figures(work: Path, config: dict, n_images: int, rates: dict, startup: float, other: dict) -> dict:
    """The cluster figures of ``config``'s DAG with modelled job times."""
    parsed = dag_schedule.parse_dry_run(dry_run(work, config))
    times, startups = modelled_seconds(config, n_images, rates, startup)
    dag = dag_schedule.build_dag(parsed, lambda job: times.get(dag_schedule.job_name(job), other.get(job["rule"], 0.0)))
    return dag_schedule.cluster_figures(dag, startups)


def projected_rates(startup: float) -> dict[str, float]:
    """VGG16 passes per second of each kind, from MEASURED_F32 less ``startup`` per job."""
    return {
        kind: passes / (seconds - jobs * startup) for kind, (seconds, jobs, passes) in MEASURED_F32["vgg16"].items()
    }


def project(work: Path) -> dict:
    """The projection at full size in float32 from MEASURED_F32: the real config's shard counts (a
    laptop's), one network job per variant (the stage unsharded, before), and the cluster recipe's."""
    config = full_size_config("float32")
    n_images = 2 * (TRAIN_PER_CLASS + VALID_PER_CLASS)
    rates = projected_rates(TF_STARTUP_S)
    unsharded = json.loads(json.dumps(config))
    unsharded["invariance"]["network"]["shards"] = 1
    cases = {
        "network unsharded (before)": unsharded,
        "config/config.yaml": config,
        "cluster recipe (config/cluster.yaml)": cluster_config(config),
    }
    figures = {}
    for i, (label, case) in enumerate(cases.items()):
        figures[label] = modelled_figures(work / f"dry{i}", case, n_images, rates, TF_STARTUP_S, MEASURED_F32["other"])
        figures[label]["shards"] = {
            "features": case["features"]["shards"],
            "network": case["invariance"]["network"]["shards"],
        }
    return {"rates_per_s": {k: round(v, 2) for k, v in rates.items()}, "tf_startup_s": TF_STARTUP_S, "cases": figures}


def run_cluster_figures(work: Path, config: dict, n_images: int) -> dict:
    """A finished run's figures: its own DAG with its benchmark times, and the cluster recipe's DAG with the
    run's per-pass rates, TensorFlow start-up and other jobs' times."""
    parsed = dag_schedule.parse_dry_run(dry_run(work / "dag", config))
    dag = dag_schedule.build_dag(parsed, lambda job: dag_schedule.benchmark_seconds(work, job))
    startup = dag_schedule.tensorflow_startup(work, dag, parsed)
    own = dag_schedule.cluster_figures(dag, startup)
    passes = vgg16_passes(config, n_images)
    worked: dict[str, list[float]] = {}
    for (rule, stem), n in passes.items():
        kind = "features" if rule == "extract_features" else stem.split(".")[0]
        name = f"{rule}/{stem}"
        worked.setdefault(kind, [0.0, 0.0])
        worked[kind][0] += n
        worked[kind][1] += dag[name].seconds - startup[name]
    rates = {kind: n / seconds for kind, (n, seconds) in worked.items()}
    tf_startup = float(pd.Series(list(startup.values())).median())
    other: dict[str, float] = {}
    for job in dag.values():
        if job.rule not in VGG16_RULES:
            other[job.rule] = max(other.get(job.rule, 0.0), job.seconds)
    cluster = modelled_figures(work / "dag-cluster", cluster_config(config), n_images, rates, tf_startup, other)
    return {
        "own": own,
        "cluster_recipe": cluster,
        "tf_startup_s": round(tf_startup, 1),
        "rates_per_s": {k: round(v, 2) for k, v in rates.items()},
    }


def print_cluster(figures: dict, label: str) -> None:
    print("\n".join(dag_schedule.format_figures(figures, label)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results/benchmarks/full"), help="work folder (emptied)")
    parser.add_argument("--precision", nargs="+", default=["float32"], help="one run per precision")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--project",
        action="store_true",
        help="run nothing: the cluster figures projected from the float32 rates in docs/performance.md",
    )
    args = parser.parse_args()
    if args.project:
        projection = project(Path(args.out) / "projection")
        print(
            f"projected from measured rates (passes/s: {projection['rates_per_s']}; TensorFlow start-up "
            f"{projection['tf_startup_s']:.0f} s a VGG16 job), float32, full size, 2 cores a node:"
        )
        for label, figures in projection["cases"].items():
            print_cluster(figures, f"{label}, shards {figures['shards']}")
        (Path(args.out) / "projection.json").write_text(json.dumps(projection, indent=2))
        return
    runs = [run(Path(args.out) / precision, precision, args.cores) for precision in args.precision]
    children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record = {"machine": describe_machine(), "runs": runs, "largest_process_peak_mb": round(children_peak_mb, 1)}
    (Path(args.out) / "bench_full.json").write_text(json.dumps(record, indent=2))
    for r in runs:
        print(
            f"{r['precision']}: wall {r['wall_s']:.0f} s; VGG16 passes {r['vgg16_s']:.0f} s; everything else "
            f"{r['other_s']:.0f} s = {r['other_share']:.1%} of the wall time (target <= 10 %); largest job "
            f"{r['largest_job_peak_mb']:.0f} MB; disk {r['disk_mb']:.0f} MB"
        )
    for r in runs:
        print_cluster(r["cluster"]["own"], f"{r['precision']}, this run's DAG and job times")
        print_cluster(
            r["cluster"]["cluster_recipe"], f"{r['precision']}, the cluster recipe's shards at this run's rates"
        )
    print(f"largest single process: {children_peak_mb:.0f} MB; details in {Path(args.out) / 'bench_full.json'}")


if __name__ == "__main__":
    main()
