#!/usr/bin/env python
"""The real config at full size, from a fresh folder: what a full run costs and where its time goes.

Runs the whole DAG of ``config/config.yaml`` with two changes that keep its size and need no network:
embedded synthetic images with the Car or Truck split sizes (5,117 training, 5,051 validation) and
seeded random VGG16 weights. Reports the wall time, the VGG16 passes' time (the feature shards and the
base variants, from Snakemake's benchmark files), the share of everything else, the largest job's
peak memory, Snakemake's own peak memory and the disk the run leaves behind. Used for the README's
"What it needs" table (`make bench-full`).
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

from poolkit.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
#: Car or Truck's split sizes; the synthetic generator draws equal classes, so these are the nearest.
TRAIN_PER_CLASS, VALID_PER_CLASS = 2558, 2526
VGG16_RULES = ("extract_features", "variant_features", "worst_shift_features")


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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results/benchmarks/full"), help="work folder (emptied)")
    parser.add_argument("--precision", nargs="+", default=["float32"], help="one run per precision")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
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
    print(f"largest single process: {children_peak_mb:.0f} MB; details in {Path(args.out) / 'bench_full.json'}")


if __name__ == "__main__":
    main()
