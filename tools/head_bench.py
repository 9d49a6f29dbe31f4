#!/usr/bin/env python
"""A full-size benchmark of the head stage without the VGG16 pass.

``inputs`` writes features.parquet, maps.parquet, pixels.parquet and features.json of the size of
the real Car or Truck run (5,117 training and 5,051 validation images by default) from a small run's
feature folder (e.g. the demo's results/features). Each new image (both splits drawn from all source
images, so that they share one distribution, as the real splits do) of a class is that class's mean
map plus a Gaussian combination of the class's centred source maps (so the new rows have the source
class's mean and covariance, and none is a near-copy of a source image), set to 0 where negative
(the maps are post-ReLU); its pixels are the same combination of the source pixels, its GAP scores
the mean of its map. The source covariance has rank below the number of source images, so
independent noise (``--noise`` within-class SDs per value) makes it full rank, as real maps are;
seeded. Two images mixed from the same sources (as a plain resample would give) would let cross-
validation memorise them: the CV log loss fell to 0.001.

``time`` runs scripts/fit_head.py on such a folder as one process under ``/usr/bin/time -v`` and
prints its wall time, peak RSS, and every head's chosen C and validation accuracy.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from poolkit import cli
from poolkit.io import feature_columns, file_digest, read_maps, write_maps, write_parquet

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_NAMES = [
    "metrics:metrics.json",
    "model:model.pkl",
    "predictions:predictions.parquet",
    "cv:cv.tsv",
    "heads:heads.tsv",
    "differences:differences.tsv",
    "coefficients:coefficients.tsv",
    "roc:roc.tsv",
    "calibration:calibration.tsv",
    "heads_figure:heads.png",
    "roc_figure:roc.png",
    "confusion_figure:confusion.png",
    "calibration_figure:calibration.png",
    "coefficients_figure:coefficients.png",
    "score_grids_figure:score_grids.png",
]


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    make = sub.add_parser("inputs", help="write full-size synthetic head inputs")
    make.add_argument("--source", required=True, help="a run's features folder (features.parquet, maps.parquet, ...)")
    make.add_argument("--out", required=True, help="folder to write the four input files to")
    make.add_argument("--n-train", type=int, default=5117)
    make.add_argument("--n-valid", type=int, default=5051)
    make.add_argument("--noise", type=float, default=1.5, help="independent noise, in within-class SDs")
    make.add_argument("--seed", type=int, default=0)
    run = sub.add_parser("time", help="time scripts/fit_head.py on a folder of inputs (/usr/bin/time -v)")
    run.add_argument("--inputs", required=True)
    run.add_argument("--out", required=True, help="folder for the stage's outputs")
    run.add_argument("--script", default=str(ROOT / "scripts/fit_head.py"))
    run.add_argument("extra", nargs=argparse.REMAINDER, help="further fit_head options, after --")
    return p


def class_weights(images: pd.DataFrame, split: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For n new images of one split, classes drawn in the source's proportions: their labels and an
    (n, n_source) matrix W such that ``W @ (rows − class mean)`` has the class's mean 0 and covariance."""
    pool = images.index.to_numpy()
    labels = rng.choice(images.loc[pool, "label"].to_numpy(), size=n, replace=True)
    weights = np.zeros((n, len(images)), np.float32)
    for label in np.unique(labels):
        rows = pool[images.loc[pool, "label"].to_numpy() == label]
        where = np.flatnonzero(labels == label)
        weights[np.ix_(where, rows)] = rng.normal(0.0, 1.0 / np.sqrt(len(rows) - 1), size=(len(where), len(rows)))
    return labels, weights


def resample(
    values: np.ndarray, images: pd.DataFrame, labels: np.ndarray, weights: np.ndarray, split: str, noise: np.ndarray
) -> np.ndarray:
    """New rows: the class mean of ``values`` plus the weighted centred source rows, plus
    ``noise`` (standard normal, one value per new row and column) times each column's within-class SD."""
    out = np.empty((len(labels), values.shape[1]), np.float32)
    centred = values.astype(np.float32).copy()
    for label in np.unique(labels):
        rows = (images["label"] == label).to_numpy()
        mean = values[rows].mean(axis=0)
        centred[rows] -= mean
        where = labels == label
        out[where] = mean + weights[where][:, rows] @ centred[rows] + noise[where] * centred[rows].std(axis=0)
    return out


def make_inputs(args: argparse.Namespace) -> None:
    source, out = Path(args.source), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    meta, maps = read_maps(source / "maps.parquet")
    pixels = pd.read_parquet(source / "pixels.parquet")
    info = json.loads((source / "features.json").read_text())
    pixel_cols = [c for c in pixels.columns if c.startswith("p")]
    pix = pixels[pixel_cols].to_numpy(np.float32)
    h, w, c = info["feature_map_shape"]
    new_maps, new_pix, new_meta = [], [], []
    for split, n in (("train", args.n_train), ("valid", args.n_valid)):
        labels, weights = class_weights(meta, split, n, rng)
        noise = args.noise * rng.standard_normal((n, maps.shape[1]), dtype=np.float32)
        new_maps.append(np.maximum(resample(maps, meta, labels, weights, split, noise), 0.0))  # post-ReLU maps
        noise = args.noise * rng.standard_normal((n, pix.shape[1]), dtype=np.float32)
        new_pix.append(np.clip(resample(pix, meta, labels, weights, split, noise), pix.min(), pix.max()))
        ids = [f"{split}/synthetic_{i:05d}" for i in range(n)]
        new_meta.append(pd.DataFrame({"image_id": ids, "split": split, "label": labels.astype(int)}))
    all_maps = np.concatenate(new_maps)
    images = pd.concat(new_meta, ignore_index=True)
    gap = all_maps.reshape(len(all_maps), h * w, c).mean(axis=1)
    features = pd.concat([images, pd.DataFrame(gap, columns=feature_columns(c))], axis=1)
    write_parquet(features, out / "features.parquet")
    write_maps(images, all_maps.reshape(len(all_maps), h, w, c), out / "maps.parquet")
    pix_table = pd.DataFrame(np.concatenate(new_pix), columns=pixel_cols)
    write_parquet(pd.concat([images, pix_table], axis=1), out / "pixels.parquet")
    info = {
        **info,
        "synthetic_head_bench": {"source": str(source), "seed": args.seed, "noise": args.noise},
        # what fit_head checks before it reads them (poolkit.io.check_recorded_digest)
        "features_sha256": file_digest(out / "features.parquet"),
        "maps_sha256": file_digest(out / "maps.parquet"),
    }
    (out / "features.json").write_text(json.dumps(info, indent=1))
    cli.log.info("wrote %d train + %d valid images (%s map) to %s", args.n_train, args.n_valid, (h, w, c), out)


def time_stage(args: argparse.Namespace) -> None:
    inputs, out = Path(args.inputs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        args.script,
        f"--features={inputs / 'features.parquet'}",
        f"--maps={inputs / 'maps.parquet'}",
        f"--features-info={inputs / 'features.json'}",
        f"--pixels={inputs / 'pixels.parquet'}",
    ]
    for item in OUTPUT_NAMES:
        name, file = item.split(":")
        command.append(f"--{name.replace('_', '-')}={out / file}")
    command += [a for a in args.extra if a != "--"]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(args.script).parent), os.environ.get("PYTHONPATH", "")]),
        }
        done = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report.name, *command], env=env, capture_output=True, text=True
        )
        timing = report.read()
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", timing)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing)
    if wall is None or rss is None:
        raise SystemExit(f"no wall time or peak memory in /usr/bin/time's report:\n{timing}")
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    rss_kb = int(rss[1])
    heads = pd.read_csv(out / "heads.tsv", sep="\t")
    print(f"fit_head: wall {seconds:.1f} s, peak RSS {rss_kb / 1024**2:.2f} GiB ({args.script})")
    print(heads.drop(columns=[c for c in heads.columns if c.endswith(("_lo", "_hi")) or c == "input"]).to_string())


def main(args: argparse.Namespace) -> None:
    make_inputs(args) if args.command == "inputs" else time_stage(args)


if __name__ == "__main__":
    cli.run(build_parser, main)
