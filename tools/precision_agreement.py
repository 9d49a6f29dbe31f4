#!/usr/bin/env python
"""float32 against bfloat16 on the demo, where a user decides: the whole demo DAG run twice from
scratch, once per precision (everything else equal), then compared.

    python tools/precision_agreement.py [--config config/demo.yaml] [--out results/benchmarks]

Reports the wall time of each run, the largest relative score difference (per score, and per image
as ‖Δ‖/‖scores‖), the head predictions that change, and the accuracy and consistency differences
(bfloat16 − float32) with 95% t intervals over images, paired on the same images and pairs.
Writes precision.tsv and precision.json under --out. On a CPU without native bfloat16 it says so
and stops (bfloat16 would only be emulated, slowly).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from poolkit.io import feature_columns, write_json, write_tsv  # noqa: E402
from poolkit.machine import describe_machine, native_bfloat16  # noqa: E402
from poolkit.network import per_image_sums  # noqa: E402
from poolkit.stats import clustered_mean_interval  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def run_demo(config: Path, work: Path, precision: str) -> float:
    """The whole DAG of ``config`` from scratch in ``work`` with ``features.precision``; wall seconds."""
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow/Snakefile")),
        *("--directory", str(work), "--configfile", str(config), "--cores", str(os.cpu_count() or 1)),
        *("--config", f"features={{precision: {precision}}}", "--quiet", "all"),
    ]
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=work, capture_output=True, text=True)
    return time.perf_counter() - began


def paired_interval(per_image_delta: pd.Series) -> tuple[float, float, float]:
    """Mean of per-row differences, with a 95% t interval over the images (the index's ``image_id``)."""
    counts, sums = per_image_sums(per_image_delta, per_image_delta.index.get_level_values("image_id"))
    mean, low, high = clustered_mean_interval(counts, sums[:, None])
    return float(mean[0]), float(low[0]), float(high[0])


def score_rows(runs: dict[str, Path]) -> list[tuple]:
    """The largest relative differences of the 512 GAP scores of every image."""
    f32, bf16 = (pd.read_parquet(runs[p] / "features/features.parquet") for p in PRECISIONS)
    a, b = f32[feature_columns()].to_numpy(np.float64), bf16[feature_columns()].to_numpy(np.float64)
    per_score = np.abs(b - a).max() / np.abs(a).mean()
    per_image = (np.linalg.norm(b - a, axis=1) / np.linalg.norm(a, axis=1)).max()
    return [
        ("largest |Δ score| / mean |score|", per_score, "ratio", "over every image and score"),
        ("largest ‖Δ scores‖ / ‖scores‖ of an image", per_image, "ratio", ""),
    ]


def head_rows(runs: dict[str, Path]) -> list[tuple]:
    """GAP-head predictions that change, and the accuracy difference with a paired interval."""
    f32, bf16 = (pd.read_parquet(runs[p] / "head/predictions.parquet") for p in PRECISIONS)
    changed = int((f32["predicted"] != bf16["predicted"]).sum())
    correct = {p: (t["predicted"] == t["label"]).astype(float) for p, t in zip(PRECISIONS, (f32, bf16), strict=True)}
    delta = pd.Series(
        (correct["bfloat16"] - correct["float32"]).to_numpy(), index=pd.Index(f32["image_id"], name="image_id")
    )
    value, low, high = paired_interval(delta)
    chosen = [
        pd.read_csv(runs[p] / "head/heads.tsv", sep="\t").set_index("model").loc["gap", "chosen_C"] for p in PRECISIONS
    ]
    return [
        ("GAP head predictions that change", changed, "images", f"of {len(f32)} validation images"),
        (
            "GAP head accuracy, bfloat16 − float32",
            value,
            "accuracy",
            f"[{low:+.3f}, {high:+.3f}] paired, t over images",
        ),
        ("GAP head C, float32 / bfloat16", chosen[0] / chosen[1], "ratio", f"C {chosen[0]:g} / {chosen[1]:g}"),
    ]


def consistency_rows(runs: dict[str, Path]) -> list[tuple]:
    """Per base variant, protocol and max shift: consistency difference, same pairs, t interval over images."""
    keys = ["variant", "protocol", "max_shift", "image_id", "pass"]
    f32, bf16 = (pd.read_parquet(runs[p] / "network/pairs.parquet").set_index(keys)["same_class"] for p in PRECISIONS)
    delta = bf16.loc[f32.index].astype(float) - f32.astype(float)
    rows = []
    for (variant, protocol, max_shift), part in delta.groupby(level=["variant", "protocol", "max_shift"], sort=False):
        value, low, high = paired_interval(part)
        label = f"consistency, bfloat16 − float32: {variant}, {protocol}, s = {max_shift}"
        rows.append((label, value, "share", f"[{low:+.3f}, {high:+.3f}] paired, t over images"))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "config/demo.yaml"))
    p.add_argument("--out", default=str(ROOT / "results/benchmarks"))
    args = p.parse_args()
    machine = describe_machine()
    if not native_bfloat16():
        print(f"{machine}: no native bfloat16 (avx512_bf16 or amx_bf16); float32 is the only sensible choice here.")
        return
    with tempfile.TemporaryDirectory(prefix="precision-") as scratch:
        runs = {precision: Path(scratch) / precision for precision in PRECISIONS}
        walls = {}
        for precision, work in runs.items():
            work.mkdir()
            print(f"demo in {precision} ...", flush=True)
            walls[precision] = run_demo(Path(args.config).resolve(), work, precision)
        run_name = yaml.safe_load(Path(args.config).read_text())["run"]["name"]
        results = {precision: work / "results" / run_name for precision, work in runs.items()}
        rows = [
            *((f"demo wall time, {precision}", walls[precision], "s", "from scratch") for precision in PRECISIONS),
            ("demo speed-up, bfloat16", walls["float32"] / walls["bfloat16"], "ratio", "float32 wall / bfloat16 wall"),
            *score_rows(results),
            *head_rows(results),
            *consistency_rows(results),
        ]
    table = pd.DataFrame(rows, columns=["measure", "value", "unit", "note"])
    out = Path(args.out)
    write_tsv(table, out / "precision.tsv")
    write_json(
        {"machine": machine, "config": args.config, "table": table.to_dict(orient="records")}, out / "precision.json"
    )
    print(f"\nmachine: {machine}; config: {args.config}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))


if __name__ == "__main__":
    main()
