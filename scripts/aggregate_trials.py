#!/usr/bin/env python
"""Invariance stage: merge trial shards into summary tables (shares and means with 95% intervals) and figures.

A synthetic input is one fixed image: up to invariance.exhaustive_max_jitter its rows are exact
(the grid enumerates every shift), beyond it Wilson and t intervals over independent trials. The
dataset input's trials are clustered by image: its intervals take the images as the units. Shards
are read in batches of rows, each reduced to sums per group and image, so memory stays that of one batch."""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from poolkit import cli, plots
from poolkit.invariance import (
    MEAN_METRICS,
    SHARE_METRICS,
    SHIFT_GROUP,
    TRIAL_GROUP,
    exact_by_jitter,
    exact_by_shift,
    per_image_sums,
    shift_size,
    summarise_trials,
)
from poolkit.io import write_tsv
from poolkit.stats import combine_sums

COLUMNS = [
    "input",
    "mode",
    "fill",
    "jitter",
    "dx",
    "dy",
    "pooling",
    "depth",
    "image_id",
    *SHARE_METRICS,
    *MEAN_METRICS,
]


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--trials", nargs="+", required=True, help="trial shard Parquets")
    cli.config_option(p, "exercise.jitter", "--figure-jitter")
    p.add_argument("--by-jitter", required=True, help="output TSV: summary per input, fill, jitter, pooling, depth")
    p.add_argument("--by-shift", required=True, help="output TSV: summary per shift size (random trials)")
    p.add_argument("--depth-figure", required=True, help="output PNG: identical share by depth")
    p.add_argument(
        "--gap-equal-figure", required=True, help="output PNG: share with an unchanged global average by depth"
    )
    p.add_argument("--shift-figure", required=True, help="output PNG: difference by shift size")
    return p


def summaries(paths: list[str], batch_rows: int = 1 << 16) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary by jitter and by shift size, reading the shards in batches of rows: each batch is
    reduced to sums per group and image (memory of one batch), and the grid trials of synthetic
    inputs (one row per shift, a few thousand) are kept whole for the exact values."""
    by_jitter, by_shift, grids = [], [], []
    for path in sorted(paths):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=COLUMNS):
            trials = batch.to_pandas(strings_to_categorical=True)
            by_jitter.append(per_image_sums(trials, TRIAL_GROUP))
            random = trials[trials["mode"] == "random"]
            by_shift.append(per_image_sums(random.assign(shift=shift_size(random)), SHIFT_GROUP))
            grid = trials[(trials["mode"] == "grid") & (trials["input"] != "dataset")]
            grids.append(grid.astype({c: str for c in ("input", "mode", "fill", "pooling")}))
    grid = pd.concat(grids, ignore_index=True)
    return (
        summarise_trials(combine_sums(by_jitter), TRIAL_GROUP, exact_by_jitter(grid), course=True),
        summarise_trials(combine_sums(by_shift), SHIFT_GROUP, exact_by_shift(grid)),
    )


def error_bars(rows: pd.DataFrame, column: str, scale: float = 100.0) -> list[np.ndarray]:
    """Lower and upper error-bar lengths of ``column`` (NaN, no bar, where the row is exact)."""
    exact = (rows["interval_method"] == "exact").to_numpy()
    low = np.where(exact, np.nan, scale * (rows[column] - rows[f"{column}_lo"]).to_numpy(float))
    high = np.where(exact, np.nan, scale * (rows[f"{column}_hi"] - rows[column]).to_numpy(float))
    return [low, high]


def fill_input_panels(
    frame: pd.DataFrame, draw, *, xlabel: str, ylabel: str, title: str, path: str, sharey: bool = False
) -> None:
    """One panel per fill (rows) and input (columns) of ``frame``, each drawn by ``draw(ax, rows)``;
    panel titles, edge labels, the legend and the figure title are shared."""
    fills, inputs = sorted(frame["fill"].unique()), sorted(frame["input"].unique())
    fig, axes = plt.subplots(
        len(fills),
        len(inputs),
        figsize=(3.3 * len(inputs), 2.9 * len(fills)),
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    for (row, fill), (col, name) in ((r, c) for r in enumerate(fills) for c in enumerate(inputs)):
        ax = axes[row, col]
        draw(ax, frame[(frame["input"] == name) & (frame["fill"] == fill)])
        ax.set_title(f"{name}, {fill} shifts", fontsize=10)
        if row == len(fills) - 1:
            ax.set_xlabel(xlabel)
        if col == 0:
            ax.set_ylabel(ylabel)
    axes[0, -1].legend(title="pooling", fontsize=8, title_fontsize=8)
    fig.suptitle(title, fontweight="bold")
    plots.save(fig, path)


def share_by_depth_figure(summary: pd.DataFrame, column: str, ylabel: str, jitter: int, path: str) -> None:
    """Share of trials by pooling depth, per fill and input, at one jitter (error bars: 95% intervals)."""

    def draw(ax, part: pd.DataFrame) -> None:
        for pooling, group in part.groupby("pooling"):
            ax.errorbar(
                group["depth"],
                100 * group[column],
                yerr=error_bars(group, column),
                ms=4,
                capsize=3,
                **plots.kind_style(str(pooling)),
            )
        ax.set_xticks(sorted(part["depth"].unique()))
        ax.set_ylim(-5, 105)

    shown = summary[(summary["mode"] == "random") & (summary["jitter"] == jitter)]
    fill_input_panels(
        shown,
        draw,
        xlabel="pooling steps",
        ylabel=ylabel,
        title=f"Random shifts up to ±{jitter} px",
        path=path,
        sharey=True,
    )


def difference_figure(by_shift: pd.DataFrame, path: str) -> None:
    """Normalised L2 difference after the deepest pooling against the shift size (band: 95% interval)."""

    def draw(ax, part: pd.DataFrame) -> None:
        for pooling, group in part.groupby("pooling"):
            style = plots.kind_style(str(pooling))
            ax.plot(group["shift"], group["nl2"], ms=3, **style)
            ax.fill_between(group["shift"], group["nl2_lo"], group["nl2_hi"], alpha=0.2, color=style["color"])

    deepest = by_shift[by_shift["depth"] == by_shift["depth"].max()]
    fill_input_panels(
        deepest,
        draw,
        xlabel="shift max(|dx|, |dy|) (px)",
        ylabel="‖P(x) − P(Tx)‖ / ‖P(x)‖",
        title=f"Difference after {int(deepest['depth'].max())} pooling steps",
        path=path,
    )


def main(args: argparse.Namespace) -> None:
    plots.setup()
    by_jitter, by_shift = summaries(args.trials)
    write_tsv(by_jitter, args.by_jitter)
    write_tsv(by_shift, args.by_shift)
    jitters = set(by_jitter.loc[by_jitter["mode"] == "random", "jitter"])
    jitter = args.figure_jitter if args.figure_jitter in jitters else int(min(jitters))
    share_by_depth_figure(by_jitter, "identical_share", "identical output (%)", jitter, args.depth_figure)
    share_by_depth_figure(by_jitter, "gap_equal_share", "same global average (%)", jitter, args.gap_equal_figure)
    difference_figure(by_shift, args.shift_figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
