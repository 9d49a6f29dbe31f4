#!/usr/bin/env python
"""Network stage, the worst shift: for every VGG16 base variant, its GAP head refitted exactly as
variant_consistency.py refits it, applied to every shifted copy of worst_shift_features.py; per variant and
protocol the share of images whose class changes for at least one shift, the share of shifts that change
it and the mean worst |ΔP(truck)|, with 95% intervals over images (see poolkit.worst_shift)."""

import argparse

import pandas as pd

from poolkit import cli
from poolkit.head import HeadSettings
from poolkit.io import UserError, feature_columns, write_parquet, write_tsv
from poolkit.network import p_truck, refit_gap_head
from poolkit.worst_shift import image_outcomes, worst_shift_summary


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "invariance.network.variants")
    p.add_argument("--scores", required=True, nargs="+", help="each variant's GAP scores of every image, in order")
    p.add_argument("--copies", required=True, nargs="+", help="each variant's shifted copies, in order")
    HeadSettings.add_options(p)
    p.add_argument("--out", required=True, help="output TSV: variant × protocol")
    p.add_argument("--images", required=True, help="output Parquet: one row per variant, protocol and image")
    return p


def main(args: argparse.Namespace) -> None:
    if not len(args.variants) == len(args.scores) == len(args.copies):
        raise UserError("one --scores and --copies file per variant, in the order of --variants")
    settings = HeadSettings.from_args(args)
    outcomes = []
    for variant, scores, copies_file in zip(args.variants, args.scores, args.copies, strict=True):
        fit = refit_gap_head(pd.read_parquet(scores), settings)
        copies = pd.read_parquet(copies_file)
        copies["p_truck"] = p_truck(fit.model, copies)
        outcomes.append(image_outcomes(copies.drop(columns=feature_columns())))
        cli.log.info("variant %s: C=%g, %d images fooled", variant, fit.chosen_c, int(outcomes[-1]["fooled"].sum()))
    images = pd.concat(outcomes, ignore_index=True)
    write_tsv(worst_shift_summary(images), args.out)
    write_parquet(images, args.images)


if __name__ == "__main__":
    cli.run(build_parser, main)
