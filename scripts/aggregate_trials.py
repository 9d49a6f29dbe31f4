#!/usr/bin/env python
"""Stage 5b: merge trial shards into summary tables (95% bootstrap intervals) and figures."""

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from poolkit import cli, plots
from poolkit.invariance import TRIAL_GROUP, shift_size, summarise
from poolkit.io import write_tsv


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--trials", nargs="+", required=True, help="trial shard Parquets")
    p.add_argument("--outdir", required=True)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure-jitter", type=int, default=3, help="jitter shown in the depth figure")
    args = p.parse_args()
    out = Path(args.outdir)
    plots.setup()

    trials = pd.concat([pd.read_parquet(path) for path in sorted(args.trials)], ignore_index=True)
    by_jitter = summarise(trials, TRIAL_GROUP, args.n_boot, args.seed)
    random = trials[trials["mode"] == "random"].assign(shift=lambda t: shift_size(t))
    by_shift = summarise(random, ["input", "pooling", "depth", "shift"], args.n_boot, args.seed)
    write_tsv(by_jitter, out / "summary_by_jitter.tsv")
    write_tsv(by_shift, out / "summary_by_shift.tsv")

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
    plots.save(fig, out / "identical_vs_depth.png")

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
    plots.save(grid.figure, out / "difference_vs_shift.png")


if __name__ == "__main__":
    cli.run(main)
