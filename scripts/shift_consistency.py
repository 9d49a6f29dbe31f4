#!/usr/bin/env python
"""Stage 6b: VGG16-level shift invariance: score cosine, head consistency and |Δp| per shift."""

import argparse
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from poolkit import cli, plots
from poolkit.io import feature_columns, write_tsv
from poolkit.stats import bootstrap_mean_ci


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--shift-features", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, help="summary TSV")
    p.add_argument("--pairs", required=True, help="per-pair TSV")
    p.add_argument("--figure", required=True)
    cli.config_option(p, "head.n_boot")
    cli.config_option(p, "head.seed")
    return p


def main(args: argparse.Namespace) -> None:

    table = pd.read_parquet(args.shift_features)
    model = pickle.loads(Path(args.model).read_bytes())["model"]
    cols = feature_columns()
    scores = table[cols].to_numpy(dtype=np.float64)
    with threadpool_limits(1):
        p_truck = model.predict_proba(scores)[:, 1]
    table = table[["image_id", "label", "shift", "dx", "dy"]].assign(p_truck=p_truck)
    base_index = table.index[table["shift"] == 0]
    base_of = pd.Series(base_index, index=table.loc[base_index, "image_id"])
    ref = base_of[table["image_id"]].to_numpy()
    a, b = scores[ref], scores
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    table["cosine"] = cosine
    table["same_class"] = (p_truck >= 0.5) == (p_truck[ref] >= 0.5)
    table["abs_dp"] = np.abs(p_truck - p_truck[ref])
    pairs = table[table["shift"] > 0].reset_index(drop=True)
    rng = np.random.default_rng(args.seed)
    rows = []
    for shift, group in pairs.groupby("shift"):
        row: dict[str, float] = {"shift": int(shift), "n_pairs": len(group)}
        for column, name in (("cosine", "cosine"), ("same_class", "consistency"), ("abs_dp", "mean_abs_dp")):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = bootstrap_mean_ci(
                group[column].to_numpy(float), rng, args.n_boot
            )
        rows.append(row)
    summary = pd.DataFrame(rows)
    write_tsv(pairs, args.pairs)
    write_tsv(summary, args.out)

    plots.setup()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, name, label in (
        (axes[0], "consistency", "same predicted class (% of pairs)"),
        (axes[1], "cosine", "cosine(GAP scores, unshifted)"),
    ):
        scale = 100 if name == "consistency" else 1
        ax.errorbar(
            summary["shift"],
            scale * summary[name],
            yerr=[scale * (summary[name] - summary[f"{name}_lo"]), scale * (summary[f"{name}_hi"] - summary[name])],
            marker="o",
            capsize=3,
            color=plots.PALETTE["max"],
        )
        ax.set(xscale="log", xlabel="shift (px, 128×128 input)", ylabel=label)
        ax.set_xticks(summary["shift"], [str(s) for s in summary["shift"]])
    axes[0].set_title("VGG16 + GAP + head: consistency")
    axes[1].set_title("VGG16 + GAP: score similarity")
    plots.save(fig, args.figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
