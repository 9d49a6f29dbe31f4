#!/usr/bin/env python
"""Invariance stage: merge trial shards into summary tables (shares and means with 95% intervals) and figures.

A synthetic input is one fixed image: up to invariance.exhaustive_max_jitter its rows are exact
(the grid enumerates every shift), beyond it Wilson and t intervals over independent trials. The
dataset input's trials are clustered by image: its intervals take the images as the units. Shards
are read in batches of rows, each reduced to sums per group and image, so memory stays that of one batch."""

import argparse

from poolkit import cli, plots
from poolkit.invariance import shown_jitter, summarise_shards
from poolkit.io import write_tsv


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


def main(args: argparse.Namespace) -> None:
    plots.setup()
    by_jitter, by_shift = summarise_shards(args.trials)
    write_tsv(by_jitter, args.by_jitter)
    write_tsv(by_shift, args.by_shift)
    jitter = shown_jitter(by_jitter, args.figure_jitter)
    plots.share_by_depth_figure(by_jitter, "identical_share", "identical output (%)", jitter, args.depth_figure)
    plots.share_by_depth_figure(by_jitter, "gap_equal_share", "same global average (%)", jitter, args.gap_equal_figure)
    plots.difference_figure(by_shift, args.shift_figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
