#!/usr/bin/env python
"""Network stage: for every VGG16 base variant, a refitted GAP head (accuracy on the validation split and
on centre crops) and its consistency under the crop and circular protocols at every max shift, with 95%
intervals over images (not pairs); the table variant × protocol × max shift and its figure."""

import argparse

import pandas as pd

from poolkit import cli, plots
from poolkit.head import HeadSettings
from poolkit.io import UserError, write_parquet, write_tsv
from poolkit.network import consistency_differences, consistency_summary, head_row, pairs_table, refit_gap_head


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "invariance.network.variants")
    p.add_argument("--scores", required=True, nargs="+", help="each variant's GAP scores of every image, in order")
    p.add_argument("--copies", required=True, nargs="+", help="each variant's copies (variant_features.py), in order")
    p.add_argument("--centre", required=True, nargs="+", help="each variant's centre crops, in order")
    cli.add_settings_options(p, HeadSettings)
    cli.add_threads_option(p, "threads for the refitted heads' CV (the results do not depend on it)")
    p.add_argument("--heads", required=True, help="output TSV: one row per variant")
    p.add_argument("--consistency", required=True, help="output TSV: variant × protocol × max shift")
    p.add_argument("--differences", required=True, help="output TSV: each variant's consistency minus max's")
    p.add_argument("--pairs", required=True, help="output Parquet: one row per variant and pair")
    p.add_argument("--figure", required=True, help="output PNG: consistency against max shift")
    return p


def main(args: argparse.Namespace) -> None:
    if not len(args.variants) == len(args.scores) == len(args.copies) == len(args.centre):
        raise UserError("one --scores, --copies and --centre file per variant, in the order of --variants")
    settings = cli.settings_from_args(HeadSettings, args, threads=cli.job_threads(args.threads))
    heads, pairs = [], []
    for variant, scores_file, copies, centre in zip(args.variants, args.scores, args.copies, args.centre, strict=True):
        scores = pd.read_parquet(scores_file)
        fit = refit_gap_head(scores, settings)
        heads.append(head_row(variant, scores, pd.read_parquet(centre), fit, settings.n_boot, settings.seed))
        pairs.append(pairs_table(pd.read_parquet(copies), fit.model))
        cli.log.info("variant %s: C=%g, accuracy %.3f", variant, fit.chosen_c, heads[-1]["accuracy"])
    table = pd.concat(pairs, ignore_index=True)
    summary = consistency_summary(table)
    write_tsv(pd.DataFrame(heads), args.heads)
    write_tsv(summary, args.consistency)
    write_tsv(consistency_differences(table), args.differences)
    write_parquet(table, args.pairs)
    plots.setup()
    plots.variant_consistency_figure(summary, args.figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
