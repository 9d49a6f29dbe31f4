#!/usr/bin/env python
"""Invariance stage: GAP scores of two independently shifted copies of validation images per maximum shift
(VGG16-level invariance, Zhang's consistency protocol)."""

import argparse

import numpy as np
import pandas as pd

from poolkit import cli
from poolkit.dataset import load_rgb, sample_split
from poolkit.invariance import vgg_shift_pairs
from poolkit.io import feature_columns, read_json, write_parquet


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--out", required=True)
    cli.config_option(p, "invariance.vgg.n_images")
    cli.config_option(p, "invariance.vgg.shifts")
    cli.config_option(p, "invariance.vgg.seed")
    cli.config_option(p, "invariance.vgg.fill")
    p.add_argument(
        "--features-info",
        help="features.json of the feature stage: use the precision the features were computed in "
        "(overrides --precision), so the head sees scores of one kind",
    )
    cli.add_model_options(p)
    return p


def main(args: argparse.Namespace) -> None:
    chosen_by = ""
    if args.features_info:
        features_info = read_json(args.features_info)
        args.precision = features_info["precision"]
        chosen_by = f"as the features: {features_info['precision_reason']}"

    from poolkit import tfsetup

    tfsetup.configure(cli.job_threads(args.threads))
    from poolkit.device import compute_device, require_gpu

    require_gpu(args.require_gpu)
    from poolkit.features import FeatureExtractor

    chosen = sample_split(pd.read_parquet(args.manifest), "valid", args.n_images, args.seed)
    images = np.stack([np.asarray(load_rgb(path, args.image_size, args.resize)) for path in chosen["path"]])
    stack, table = vgg_shift_pairs(images, args.shifts, args.seed, args.fill)
    extractor = FeatureExtractor(args.weights, args.preprocessing, args.precision)
    cli.log.info("device: %s", compute_device())
    cli.log.info("precision: %s (%s)", extractor.precision, chosen_by or extractor.precision_reason)
    scores = extractor.extract_arrays(stack, args.batch_size, "shifted copies")
    table.insert(0, "image_id", chosen.loc[table["image_index"], "image_id"].to_numpy())
    table.insert(1, "label", chosen.loc[table["image_index"], "label"].to_numpy())
    result = pd.concat([table.drop(columns="image_index"), pd.DataFrame(scores, columns=feature_columns())], axis=1)
    write_parquet(result, args.out)


if __name__ == "__main__":
    cli.run(build_parser, main)
