#!/usr/bin/env python
"""Stage 5b: merge trial shards into summary tables (95% bootstrap intervals) and figures."""

import argparse

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from poolkit import cli, plots
from poolkit.invariance import TRIAL_GROUP, shift_size, summarise
from poolkit.io import write_tsv


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--trials", nargs="+", required=True, help="trial shard Parquets")
    cli.config_option(p, "invariance.n_boot")
    p.add_argument("--seed", type=int, required=True, help="seed of the bootstrap (the first trial seed)")
    cli.config_option(p, "exercise.jitter", "--figure-jitter")
    p.add_argument("--by-jitter", required=True, help="output TSV: summary per input, jitter, pooling, depth")
    p.add_argument("--by-shift", required=True, help="output TSV: summary per shift size")
    p.add_argument("--depth-figure", required=True, help="output PNG: identical share by depth")
    p.add_argument("--shift-figure", required=True, help="output PNG: difference by shift size")
    return p


def main(args: argparse.Namespace) -> None:
    plots.setup()

    trials = pd.concat([pd.read_parquet(path) for path in sorted(args.trials)], ignore_index=True)
    by_jitter = summarise(trials, TRIAL_GROUP, args.n_boot, args.seed)
    random = trials[trials["mode"] == "random"].assign(shift=lambda t: shift_size(t))
    by_shift = summarise(random, ["input", "pooling", "depth", "shift"], args.n_boot, args.seed)
    write_tsv(by_jitter, args.by_jitter)
    write_tsv(by_shift, args.by_shift)

    jitter = args.figure_jitter if args.figure_jitter in set(by_jitter["jitter"]) else int(by_jitter["jitter"].min())
    shown = by_jitter[(by_jitter["mode"] == "random") & (by_jitter["jitter"] == jitter)]
    inputs = sorted(shown["input"].unique())
    fig, axes = plt.subplots(1, len(inputs), figsize=(4.2 * len(inputs), 3.8), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], inputs, strict=True):
        part = shown[shown["input"] == name]
        for pooling, group in part.groupby("pooling"):
            ax.errorbar(
                group["depth"],
                100 * group["identical_share"],
                yerr=[
                    100 * (group["identical_share"] - group["identical_share_lo"]),
                    100 * (group["identical_share_hi"] - group["identical_share"]),
                ],
                marker="o",
                capsize=3,
                label=pooling,
                color=plots.PALETTE.get(pooling),
            )
        ax.set_title(f"{name} (jitter ±{jitter} px)")
        ax.set_xlabel("pooling steps (2×2, stride 2)")
        ax.set_xticks(sorted(part["depth"].unique()))
    axes[0, 0].set_ylabel("identical output (% of trials)")
    axes[0, -1].legend(title="pooling")
    plots.save(fig, args.depth_figure)

    deepest = by_shift[by_shift["depth"] == by_shift["depth"].max()]
    grid = sns.relplot(
        data=deepest,
        x="shift",
        y="nl2",
        hue="pooling",
        col="input",
        kind="line",
        marker="o",
        palette=plots.PALETTE,
        height=3.4,
        aspect=1.1,
        facet_kws={"sharey": False},
    )
    for ax, name in zip(grid.axes.flat, grid.col_names, strict=True):
        for pooling, group in deepest[deepest["input"] == name].groupby("pooling"):
            ax.fill_between(
                group["shift"], group["nl2_lo"], group["nl2_hi"], alpha=0.2, color=plots.PALETTE.get(pooling)
            )
    grid.set_axis_labels(
        "shift size max(|dx|, |dy|) (px)", f"‖P(x) − P(Tx)‖ / ‖P(x)‖ after {int(deepest['depth'].max())} pools"
    )
    plots.save(grid.figure, args.shift_figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
