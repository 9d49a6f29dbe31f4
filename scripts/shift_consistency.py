#!/usr/bin/env python
"""Invariance stage: VGG16-level shift invariance (Zhang's protocol): for each validation image and
maximum shift, two independently shifted copies; consistency (same predicted class), cosine of
their GAP scores and |Δ P(truck)|, each with a 95% interval."""

import argparse
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from poolkit import cli, plots
from poolkit.io import feature_columns, write_tsv
from poolkit.stats import group_sums, summarise_sums


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--shift-features", required=True)
    p.add_argument("--model", required=True, help="the GAP head (model.pkl)")
    p.add_argument("--out", required=True, help="output TSV: summary per maximum shift")
    p.add_argument("--pairs", required=True, help="output TSV: one row per image and maximum shift")
    p.add_argument("--figure", required=True)
    return p


def pairs_table(table: pd.DataFrame, model) -> pd.DataFrame:
    """One row per image and maximum shift: both copies' offsets, cosine, same class, |Δp|."""
    scores = table[feature_columns()].to_numpy(dtype=np.float64)
    with threadpool_limits(1):
        p_truck = model.predict_proba(scores)[:, 1]
    a, b = (table["copy"] == "a").to_numpy(), (table["copy"] == "b").to_numpy()
    keys = ["image_id", "label", "max_shift"]
    if not table.loc[a, keys].reset_index(drop=True).equals(table.loc[b, keys].reset_index(drop=True)):
        raise ValueError("shift features: copies a and b are not paired row by row")
    sa, sb = scores[a], scores[b]
    pairs = table.loc[a, keys].reset_index(drop=True)
    pairs[["dx_a", "dy_a"]] = table.loc[a, ["dx", "dy"]].to_numpy()
    pairs[["dx_b", "dy_b"]] = table.loc[b, ["dx", "dy"]].to_numpy()
    pairs["p_truck_a"], pairs["p_truck_b"] = p_truck[a], p_truck[b]
    pairs["same_class"] = (p_truck[a] >= 0.5) == (p_truck[b] >= 0.5)
    pairs["cosine"] = (sa * sb).sum(axis=1) / (np.linalg.norm(sa, axis=1) * np.linalg.norm(sb, axis=1))
    pairs["abs_dp"] = np.abs(p_truck[a] - p_truck[b])
    return pairs


def summary_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per maximum shift: consistency (Wilson interval), mean cosine and mean |Δp| (t intervals)."""
    sums = group_sums(pairs, ["max_shift"], ["same_class", "cosine", "abs_dp"])
    return summarise_sums(sums, {"same_class": "consistency"}, {"cosine": "cosine", "abs_dp": "mean_abs_dp"}, "n_pairs")


def consistency_figure(summary: pd.DataFrame, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    for ax, name, label, scale in (
        (axes[0], "consistency", "same predicted class (% of pairs)", 100),
        (axes[1], "cosine", "cosine of the two copies' GAP scores", 1),
    ):
        ax.errorbar(
            summary["max_shift"],
            scale * summary[name],
            yerr=[scale * (summary[name] - summary[f"{name}_lo"]), scale * (summary[f"{name}_hi"] - summary[name])],
            marker="o",
            capsize=3,
            color=plots.PALETTE["gap"],
        )
        ax.set(xscale="log", xlabel="maximum shift of each copy (px)", ylabel=label)
        ax.set_xticks(summary["max_shift"], [str(s) for s in summary["max_shift"]])
    axes[0].set_title("VGG16 + GAP + head: consistency", fontsize=11)
    axes[1].set_title("VGG16 + GAP: score similarity", fontsize=11)
    plots.save(fig, path)


def main(args: argparse.Namespace) -> None:
    table = pd.read_parquet(args.shift_features)
    model = pickle.loads(Path(args.model).read_bytes())["model"]
    pairs = pairs_table(table, model)
    summary = summary_table(pairs)
    write_tsv(pairs, args.pairs)
    write_tsv(summary, args.out)
    plots.setup()
    consistency_figure(summary, args.figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
