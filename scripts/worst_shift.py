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
    cli.config_option(p, "invariance.network.protocols")
    p.add_argument("--scores", required=True, nargs="+", help="each variant's GAP scores of every image, in order")
    p.add_argument(
        "--copies", required=True, nargs="+", help="every shard of every variant's shifted copies (variant column)"
    )
    cli.add_settings_options(p, HeadSettings)
    cli.add_threads_option(p, "threads for the refitted heads' CV (the results do not depend on it)")
    p.add_argument("--out", required=True, help="output TSV: variant × protocol")
    p.add_argument("--images", required=True, help="output Parquet: one row per variant, protocol and image")
    return p


def merged_copies(paths: list[str], protocols: list[str]) -> pd.DataFrame:
    """Every shard's copies in the plan's order (protocol, then the shards in order), whatever the
    shard count; empty shards are left out."""
    frames = [frame for frame in map(pd.read_parquet, paths) if len(frame)]
    copies = pd.concat(frames, ignore_index=True)
    order = copies["protocol"].map({protocol: i for i, protocol in enumerate(protocols)})
    return copies.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def main(args: argparse.Namespace) -> None:
    if len(args.variants) != len(args.scores):
        raise UserError("one --scores file per variant, in the order of --variants")
    settings = cli.settings_from_args(HeadSettings, args, threads=cli.job_threads(args.threads))
    all_copies = merged_copies(args.copies, args.protocols)
    outcomes = []
    for variant, scores in zip(args.variants, args.scores, strict=True):
        fit = refit_gap_head(pd.read_parquet(scores), settings)
        copies = all_copies[all_copies["variant"] == variant].reset_index(drop=True)
        if copies.empty:
            raise UserError(f"worst shift: no shifted copies of variant {variant} in --copies")
        copies["p_truck"] = p_truck(fit.model, copies)
        outcomes.append(image_outcomes(copies.drop(columns=feature_columns())))
        cli.log.info("variant %s: C=%g, %d images fooled", variant, fit.chosen_c, int(outcomes[-1]["fooled"].sum()))
    images = pd.concat(outcomes, ignore_index=True)
    write_tsv(worst_shift_summary(images), args.out)
    write_parquet(images, args.images)


if __name__ == "__main__":
    cli.run(build_parser, main)
