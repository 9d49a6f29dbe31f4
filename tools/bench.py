#!/usr/bin/env python
"""Benchmarks measured side by side in one run: matmul peak, VGG16 + GAP images/s (the exercise's
one-at-a-time loop vs the workflow's feature stage), FLOP/s and peak memory, invariance-trial
throughput, and Snakemake rerun times. Prints ratios and writes results/benchmarks/."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from poolkit import cli
from poolkit.invariance import TrialSettings, trial_shards
from poolkit.io import write_json, write_tsv
from poolkit.machine import clock_ghz, cpu_flags, describe_machine, flop_per_cycle, native_bfloat16, theoretical_peaks

ROOT = Path(__file__).resolve().parents[1]
GFLOP_PER_IMAGE = 10.0  # VGG16 conv base at 128×128: 5.01 GMAC


def best_of(fn, repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(bfloat16: bool) -> dict[str, float]:
    """Matmul GFLOP/s at 4096²: float32 with NumPy (OpenBLAS) and TensorFlow (oneDNN), and bfloat16
    with TensorFlow if asked (NaN otherwise: emulated, it is slow and says nothing of the hardware)."""
    n = 4096
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b
    numpy_gflops = 2 * n**3 / best_of(lambda: a @ b, 3) / 1e9
    import tensorflow as tf

    def tf_gflops(dtype) -> float:
        ta, tb = tf.cast(a, dtype), tf.cast(b, dtype)
        (ta @ tb).numpy()
        return 2 * n**3 / best_of(lambda: (ta @ tb).numpy(), 3) / 1e9

    tf_float32 = tf_gflops(tf.float32)
    measured = {
        "numpy": numpy_gflops,
        "tensorflow": tf_float32,
        "float32_matmul": max(numpy_gflops, tf_float32),
        "bfloat16_matmul": tf_gflops(tf.bfloat16) if bfloat16 else float("nan"),
    }
    return {**measured, **peak_bounds(measured)}


def peak_bounds(measured: dict[str, float]) -> dict[str, float]:
    """Each precision's peak that no stage can exceed: the larger of its measured matmul and its units'
    FLOP per cycle × clock × cores (poolkit.machine), the clock being the larger of the one Linux
    reports and the one the float32 matmul proves (a virtual machine may report less than turbo)."""
    flags, cores = cpu_flags(), os.cpu_count() or 1
    per_cycle = flop_per_cycle(flags)
    proven_ghz = measured["float32_matmul"] / (int(per_cycle["float32"] or 1) * cores)
    ghz = max(clock_ghz(), proven_ghz) if clock_ghz() == clock_ghz() else proven_ghz
    bounds = theoretical_peaks(flags, cores, ghz)
    return {
        "clock_ghz": ghz,
        "float32_rate_x_clock": bounds["float32"],
        "bfloat16_rate_x_clock": bounds["bfloat16"],
        "float32": float(np.nanmax([measured["float32_matmul"], bounds["float32"]])),
        "bfloat16": float(np.nanmax([measured["bfloat16_matmul"], bounds["bfloat16"]]))
        if measured["bfloat16_matmul"] == measured["bfloat16_matmul"] or bounds["bfloat16"] == bounds["bfloat16"]
        else float("nan"),
    }


def exercise_loop(weights: str, images: np.ndarray) -> float:
    """Images/s of the exercise's way: a Keras model called on one image at a time."""
    import keras

    from poolkit.weights import load_model_from_file

    model = keras.Sequential([load_model_from_file(weights), keras.layers.GlobalAveragePooling2D()])
    x = images.astype(np.float32)
    model(x[:1])  # build
    start = time.perf_counter()
    for i in range(len(x)):
        model(x[i : i + 1])
    return len(x) / (time.perf_counter() - start)


def feature_stage(manifest: Path, weights: Path, out: Path, batch: int, threads: int, precision: str) -> dict:
    """Run the workflow's feature script as a subprocess: images/s, precision used and its peak RSS."""
    cmd = [
        sys.executable,
        str(ROOT / "scripts/extract_features.py"),
        "--manifest",
        str(manifest),
        "--weights",
        str(weights),
        "--out",
        str(out / "f.parquet"),
        "--maps",
        str(out / "m.parquet"),
        "--info",
        str(out / "f.json"),
        "--shard",
        "0",
        "--batch-size",
        str(batch),
        "--threads",
        str(threads),
        "--precision",
        precision,
    ]
    _, (job,) = run_jobs([cmd], 1)
    info = json.loads((out / "f.json").read_text())
    return {
        "images_per_s": info["images_per_s"],
        "precision": info["precision"],
        "precision_reason": info["precision_reason"],
        **job,
    }


def variant(args) -> None:
    """One extraction variant in a fresh process (for settings read at import time)."""
    from poolkit import tfsetup

    tfsetup.configure(args.threads)
    import tensorflow as tf

    from poolkit.features import FeatureExtractor, preprocess

    images = np.load(args.images)
    base = FeatureExtractor(args.weights, "caffe").base
    batches = [images[i : i + args.batch] for i in range(0, len(images) - args.batch + 1, args.batch)]
    if args.bf16:
        import keras

        from poolkit.weights import vgg16_notop

        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        weights = base.get_weights()
        base = vgg16_notop(None)
        base.set_weights(weights)
    forward = tf.function(
        lambda x: tf.reduce_mean(tf.cast(base(x, training=False), tf.float32), axis=(1, 2)), jit_compile=args.xla
    )
    forward(preprocess(batches[0], "caffe"))
    start = time.perf_counter()
    for batch in batches:
        forward(preprocess(batch, "caffe")).numpy()
    rate = sum(len(b) for b in batches) / (time.perf_counter() - start)
    print(json.dumps({"images_per_s": rate}))


def run_variant(images: Path, weights: Path, batch: int, threads: int, xla=False, bf16=False, onednn=True) -> float:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
    cmd = (
        [
            sys.executable,
            __file__,
            "variant",
            "--images",
            str(images),
            "--weights",
            str(weights),
            "--batch",
            str(batch),
            "--threads",
            str(threads),
        ]
        + (["--xla"] if xla else [])
        + (["--bf16"] if bf16 else [])
    )
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return float("nan")
    return json.loads(result.stdout.strip().splitlines()[-1])["images_per_s"]


#: Runs a command and writes its peak RSS (KiB) to a file. Started from this large process, the
#: launcher's own peak includes ours (a forked child keeps its parent's high-water mark until exec);
#: the command it starts forks from the small, fresh launcher, so its peak is its own.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_jobs(commands: list[list[str]], parallel: int) -> tuple[float, list[dict[str, float]]]:
    """Run commands ``parallel`` at a time (as Snakemake's --cores would); total wall time and
    each job's wall time and peak RSS (the command's own, measured through :data:`LAUNCHER`)."""
    pending = list(enumerate(commands))
    running: dict[int, tuple[int, subprocess.Popen[bytes], float]] = {}
    done: list[dict[str, float]] = [{} for _ in commands]
    reports = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < parallel:
            index, cmd = pending.pop(0)
            launched = [sys.executable, "-c", LAUNCHER, str(reports / str(index)), *cmd]
            child = subprocess.Popen(launched, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running[child.pid] = (index, child, time.perf_counter())
        pid, status, _ = os.wait4(-1, 0)
        index, child, began = running.pop(pid)
        if os.waitstatus_to_exitcode(status) != 0:
            stderr = child.stderr.read().decode() if child.stderr else ""
            raise RuntimeError(f"{' '.join(commands[index][:2])} failed:\n{stderr[-2000:]}")
        peak_kib = int((reports / str(index)).read_text())
        done[index] = {"wall_s": time.perf_counter() - began, "peak_rss_mb": peak_kib / 1024}
    shutil.rmtree(reports, ignore_errors=True)
    return time.perf_counter() - start, done


def invariance_full_size(config: Path, manifest: Path, work: Path, parallel: int) -> dict[str, float]:
    """Every trial shard of ``config``'s invariance settings, then their aggregate, as the workflow runs them."""
    from poolkit.config import validate_config

    full = validate_config(yaml.safe_load(config.read_text()), ROOT / "workflow/schemas/config.schema.yaml")
    inv = full["invariance"]
    options = {**TrialSettings.params(full), "n_dataset_images": inv["n_dataset_images"], "manifest": manifest}
    settings = cli.option_args(options)
    shards = trial_shards(inv["exhaustive_max_jitter"], inv["seeds"])
    outs = [work / f"{shard}.parquet" for shard in shards]
    script = str(ROOT / "scripts/run_trials.py")
    trials_wall, jobs = run_jobs(
        [[sys.executable, script, f"--shard={s}", f"--out={o}", *settings] for s, o in zip(shards, outs, strict=True)],
        parallel,
    )
    aggregate = [
        sys.executable,
        str(ROOT / "scripts/aggregate_trials.py"),
        "--trials",
        *map(str, outs),
        *(
            f"--{name}={work / name}"
            for name in ("by-jitter", "by-shift", "depth-figure", "gap-equal-figure", "shift-figure")
        ),
    ]
    aggregate_wall, (agg,) = run_jobs([aggregate], 1)
    n_trials = sum(len(pd.read_parquet(o, columns=["trial"])) for o in outs) // (
        len(inv["poolings"]) * inv["max_depth"] * len(inv["fills"])
    )
    return {
        "total_s": trials_wall + aggregate_wall,
        "shards": len(shards),
        "trials": n_trials,
        "shard_sum_s": sum(j["wall_s"] for j in jobs),
        "slowest_shard_s": max(j["wall_s"] for j in jobs),
        "shard_peak_mb": max(j["peak_rss_mb"] for j in jobs),
        "aggregate_s": agg["wall_s"],
        "aggregate_peak_mb": agg["peak_rss_mb"],
    }


def snakemake_times(config: Path, work: Path) -> dict[str, float]:
    """Full run, then a no-op rerun and a rerun after changing only the head's C grid."""
    base = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "workflow/Snakefile"),
        "--directory",
        str(work),
        "--cores",
        "2",
        "--quiet",
        "all",
    ]
    subprocess.run([*base, "--configfile", str(config)], check=True, capture_output=True)
    noop = best_of(lambda: subprocess.run([*base, "--configfile", str(config)], check=True, capture_output=True), 2)
    changed = yaml.safe_load(config.read_text())
    changed.setdefault("head", {})["c_grid"] = [0.05, 0.5, 5.0]
    changed_file = work / "changed.yaml"
    changed_file.write_text(yaml.safe_dump(changed))
    start = time.perf_counter()
    subprocess.run([*base, "--configfile", str(changed_file)], check=True, capture_output=True)
    return {"noop_rerun_s": noop, "head_change_rerun_s": time.perf_counter() - start}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="command")
    v = sub.add_parser("variant", help="(internal) time one extraction variant")
    v.add_argument("--images", required=True)
    v.add_argument("--weights", required=True)
    v.add_argument("--batch", type=int, default=64)
    v.add_argument("--threads", type=int, default=2)
    v.add_argument("--xla", action="store_true")
    v.add_argument("--bf16", action="store_true")
    p.add_argument("--out", default="results/benchmarks")
    p.add_argument("--n-images", type=int, default=256, help="images for the feature stage")
    p.add_argument("--n-loop", type=int, default=48, help="images for the one-at-a-time loop")
    p.add_argument("--batch", type=int, default=64, help="the configured batch size")
    cli.config_option(p, "features.precision")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dag-config", default=str(ROOT / "config/demo.yaml"), help="config for the rerun timings")
    p.add_argument(
        "--invariance-config", default=str(ROOT / "config/config.yaml"), help="config whose invariance stage is timed"
    )
    p.add_argument("--explore", action="store_true", help="also time XLA, bfloat16, threads, batch sizes, oneDNN off")
    return p


BENCH_SETUPS = {
    "float32, batch 16": {"batch": 16},
    "float32, batch 32": {"batch": 32},
    "float32, batch 64": {"batch": 64},
    "float32, batch 128": {"batch": 128},
    "float32, 1 thread": {"batch": 64, "threads": 1},
    "float32, XLA (jit_compile)": {"batch": 64, "xla": True},
    "float32, oneDNN off": {"batch": 64, "onednn": False},
    "bfloat16, batch 16": {"batch": 16, "bf16": True},
    "bfloat16, batch 32": {"batch": 32, "bf16": True},
    "bfloat16, batch 64": {"batch": 64, "bf16": True},
    "bfloat16, batch 128": {"batch": 128, "bf16": True},
    "bfloat16, 1 thread": {"batch": 64, "threads": 1, "bf16": True},
    "bfloat16, XLA (jit_compile)": {"batch": 64, "xla": True, "bf16": True},
}


def prepare_inputs(scratch: Path, n_images: int) -> tuple[Path, Path, np.ndarray]:
    """A synthetic dataset's manifest, seeded random weights and the images at 128×128."""
    from poolkit.dataset import build_manifest, load_rgb
    from poolkit.io import write_parquet
    from poolkit.synthetic import generate_dataset
    from poolkit.weights import random_model, save_weights

    per_class = n_images // 4
    generate_dataset(scratch / "img", {"train": per_class, "valid": per_class}, seed=0)
    manifest, _ = build_manifest(scratch / "img")
    write_parquet(manifest, scratch / "manifest.parquet")
    weights = scratch / "w.weights.h5"
    save_weights(random_model(0), weights)
    images = np.stack([np.asarray(load_rgb(p, 128, "nearest")) for p in manifest["path"]])
    np.save(scratch / "images.npy", images)
    return scratch / "manifest.parquet", weights, images


def feature_stages(args: argparse.Namespace, manifest: Path, weights: Path, scratch: Path) -> tuple[dict, dict | None]:
    """The feature stage in the configured precision, and beside it float32, or bfloat16 where native."""
    print("the workflow's feature stage ...", flush=True)
    stage = feature_stage(manifest, weights, scratch, args.batch, args.threads, args.precision)
    print(f"  {stage['precision']} ({stage['precision_reason']})", flush=True)
    other_precision = "float32" if stage["precision"] != "float32" else ("bfloat16" if native_bfloat16() else None)
    if not other_precision:
        return stage, None
    print(f"the feature stage in {other_precision}, for comparison ...", flush=True)
    return stage, feature_stage(manifest, weights, scratch, args.batch, args.threads, other_precision)


def measure(args: argparse.Namespace, scratch: Path) -> dict:
    """Every measurement of one run, side by side."""
    from poolkit.invariance import run_shard

    manifest, weights, images = prepare_inputs(scratch, args.n_images)
    print("matmul peak ...", flush=True)
    m: dict[str, Any] = {"peak": matmul_peak(bfloat16=bool(native_bfloat16()) or args.precision == "bfloat16")}
    print("one image at a time (the exercise's loop) ...", flush=True)
    m["loop_rate"] = exercise_loop(str(weights), images[: args.n_loop])
    m["stage"], m["other"] = feature_stages(args, manifest, weights, scratch)
    print("invariance trials ...", flush=True)
    ring_trials = TrialSettings(
        inputs=["ring"],
        jitters=[3],
        trials_per_jitter=10_000,
        exhaustive_max_jitter=3,
        poolings=["max", "avg", "blur"],
        max_depth=4,
        fills=["replicate"],
        size=64,
        r_shrink=4,
    )
    m["trial_s"] = best_of(lambda: run_shard("s0", ring_trials), 2)
    print("the invariance stage at the real config's size (all shards, then the aggregate) ...", flush=True)
    m["full"] = invariance_full_size(Path(args.invariance_config), manifest, scratch / "inv", args.threads)
    print("snakemake reruns ...", flush=True)
    m["reruns"] = snakemake_times(Path(args.dag_config), scratch / "dag")
    m["explore"] = {}
    if args.explore:
        print("variants ...", flush=True)
        for name, kwargs in BENCH_SETUPS.items():
            m["explore"][name] = run_variant(scratch / "images.npy", weights, **{"threads": args.threads, **kwargs})
            print(f"  {name}: {m['explore'][name]:.2f} images/s", flush=True)
    return m


def bf16_note(peak: dict[str, float]) -> str:
    """Why the bfloat16 matmul was not measured, if it was not."""
    return "" if peak["bfloat16_matmul"] == peak["bfloat16_matmul"] else "not measured: the CPU has no native bfloat16"


def per_cycle_note(precision: str) -> str:
    """The FLOP per cycle per core the bound assumes."""
    rate = flop_per_cycle(cpu_flags())[precision]
    return f"{rate:,} FLOP per cycle per core" if rate else "emulated: no native unit"


def feature_rows(m: dict, batch: int) -> list[tuple]:
    """Table rows of the matmul peaks, the one-image loop and the feature stage(s)."""
    peak, stage, other, loop_rate = m["peak"], m["stage"], m["other"], m["loop_rate"]
    precision, stage_gflops = stage["precision"], stage["images_per_s"] * GFLOP_PER_IMAGE
    rows = [
        ("matmul peak, float32 (NumPy)", peak["numpy"], "GFLOP/s", ""),
        ("matmul peak, float32 (TensorFlow)", peak["tensorflow"], "GFLOP/s", ""),
        ("matmul, bfloat16 (TensorFlow, 4096²)", peak["bfloat16_matmul"], "GFLOP/s", bf16_note(peak)),
        ("clock (reported, or proven by the float32 matmul)", peak["clock_ghz"], "GHz", ""),
        ("float32 units × clock × cores", peak["float32_rate_x_clock"], "GFLOP/s", per_cycle_note("float32")),
        ("bfloat16 units × clock × cores", peak["bfloat16_rate_x_clock"], "GFLOP/s", per_cycle_note("bfloat16")),
        ("peak, float32 (the larger of matmul and units × clock)", peak["float32"], "GFLOP/s", ""),
        ("peak, bfloat16 (the larger of matmul and units × clock)", peak["bfloat16"], "GFLOP/s", ""),
        ("VGG16+GAP, one image at a time", loop_rate, "images/s", "float32, model(x) per image"),
        (
            "VGG16+GAP, feature stage",
            stage["images_per_s"],
            "images/s",
            f"batch {batch}, {precision} ({stage['precision_reason']})",
        ),
        ("feature stage FLOP rate", stage_gflops, "GFLOP/s", "10.0 GFLOP per image"),
        (f"feature stage / {precision} peak", stage_gflops / peak[precision], "ratio", "target >= 0.90"),
        ("feature stage / one-at-a-time", stage["images_per_s"] / loop_rate, "ratio", "target >= 2"),
        ("feature stage peak memory", stage["peak_rss_mb"], "MiB", "target <= 3072"),
    ]
    if other is not None:
        o = other["precision"]
        rows += [
            (
                f"VGG16+GAP, feature stage in {o}",
                other["images_per_s"],
                "images/s",
                f"batch {batch} ({other['precision_reason']})",
            ),
            (f"{o} feature stage / {o} peak", other["images_per_s"] * GFLOP_PER_IMAGE / peak[o], "ratio", "at most 1"),
            (f"{o} feature stage / one-at-a-time", other["images_per_s"] / loop_rate, "ratio", ""),
            (f"{o} / {precision} feature stage", other["images_per_s"] / stage["images_per_s"], "ratio", ""),
            (f"{o} feature stage peak memory", other["peak_rss_mb"], "MiB", ""),
        ]
    return rows


def workflow_rows(m: dict, jobs: int) -> list[tuple]:
    """Table rows of the invariance stage and the Snakemake reruns, then the explored variants."""
    full, reruns = m["full"], m["reruns"]
    return [
        (
            "invariance: 10,000 ring trials x 3 poolings x 4 depths",
            m["trial_s"],
            "s",
            "one process; its 49 distinct shifts are computed once",
        ),
        ("invariance throughput", 10_000 / m["trial_s"], "trials/s", ""),
        (
            "invariance stage at full size: all shards + aggregate",
            full["total_s"],
            "s",
            f"{full['shards']} shards, {full['trials']:,} trials, {jobs} jobs at a time; target <= 60",
        ),
        ("  sum of the shard jobs' wall times", full["shard_sum_s"], "s", ""),
        ("  slowest shard", full["slowest_shard_s"], "s", f"peak memory of a shard {full['shard_peak_mb']:.0f} MiB"),
        ("  aggregate_trials", full["aggregate_s"], "s", ""),
        ("  aggregate_trials peak memory", full["aggregate_peak_mb"], "MiB", "target <= 500"),
        ("no-op rerun of the whole DAG", reruns["noop_rerun_s"], "s", "target < 5"),
        ("rerun after changing only head.c_grid", reruns["head_change_rerun_s"], "s", ""),
        *((f"variant: {k}", v, "images/s", "") for k, v in m["explore"].items()),
    ]


def checks(m: dict) -> dict[str, bool]:
    """The targets, each PASS or FAIL."""
    stage, other, loop_rate, precision = m["stage"], m["other"], m["loop_rate"], m["stage"]["precision"]
    result = {
        f"{precision}_stage_vs_same_precision_peak_ge_0.90": stage["images_per_s"]
        * GFLOP_PER_IMAGE
        / m["peak"][precision]
        >= 0.90,
        f"{precision}_stage_vs_loop_ge_2": stage["images_per_s"] / loop_rate >= 2,
        "peak_memory_le_3GiB": stage["peak_rss_mb"] <= 3072,
        "noop_rerun_lt_5s": m["reruns"]["noop_rerun_s"] < 5,
        "invariance_full_size_le_60s": m["full"]["total_s"] <= 60,
        "aggregate_peak_memory_le_500MB": m["full"]["aggregate_peak_mb"] <= 500,
    }
    if other is not None:
        result[f"{other['precision']}_stage_vs_loop_ge_2"] = other["images_per_s"] / loop_rate >= 2
    return result


def main(args: argparse.Namespace) -> None:
    if args.command == "variant":
        variant(args)
        return
    from poolkit import tfsetup

    tfsetup.configure(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        m = measure(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = pd.DataFrame(
        feature_rows(m, args.batch) + workflow_rows(m, args.threads), columns=["measure", "value", "unit", "note"]
    )
    passed = checks(m)
    machine = describe_machine()
    out = Path(args.out)
    write_tsv(table, out / "bench.tsv")
    write_json({"machine": machine, "table": table.to_dict(orient="records"), "checks": passed}, out / "bench.json")
    print(f"\nmachine: {machine}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for name, ok in passed.items():
        print(f"{'PASS' if ok else 'FAIL'} {name}")


if __name__ == "__main__":
    cli.run(build_parser, main)
