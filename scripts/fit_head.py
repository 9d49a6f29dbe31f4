#!/usr/bin/env python
"""Head stage: logistic-regression heads (C by repeated stratified CV) on the GAP scores, global-max (GMP)
scores, the flattened feature map and raw pixels, plus the majority class, all on one split:
validation metrics with 95% intervals, paired differences, figures."""

import argparse
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn import __version__ as sklearn_version

from poolkit import cli, plots
from poolkit.head import (
    CLASS_NAMES,
    HEADS,
    HeadResults,
    HeadSettings,
    fit_and_evaluate,
    head_matrices,
    head_tables,
    metrics_record,
    predictions_table,
)
from poolkit.io import (
    UserError,
    atomic_path,
    check_recorded_digest,
    feature_columns,
    read_json,
    read_maps,
    write_json,
    write_parquet,
    write_tsv,
)

OUTPUTS = {
    "metrics": "JSON of every head's validation metrics with intervals, and the paired differences",
    "model": "pickled scikit-learn pipeline of the GAP head",
    "predictions": "Parquet of validation predictions of every head",
    "cv": "TSV of the cross-validated log loss per head and C",
    "heads": "TSV of every head's metrics, parameter count, chosen C and its wins over the fold seeds",
    "differences": "TSV of paired differences (GAP - Flatten, GAP - GMP)",
    "coefficients": "TSV of the GAP head's coefficients",
    "roc": "TSV of the GAP head's ROC curve",
    "calibration": "TSV of the GAP head's calibration bins",
    "heads_figure": "PNG: accuracy and AUC of every head",
    "roc_figure": "PNG",
    "confusion_figure": "PNG",
    "calibration_figure": "PNG",
    "coefficients_figure": "PNG",
    "score_grids_figure": "PNG",
}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--features", required=True, help="GAP scores (features.parquet)")
    p.add_argument("--maps", required=True, help="last feature maps (maps.parquet)")
    p.add_argument("--features-info", required=True)
    p.add_argument("--pixels", required=True)
    cli.add_settings_options(p, HeadSettings)
    cli.add_threads_option(p, "threads for the batched CV fits' matrix products; the results do not depend on it")
    cli.config_option(p, "head.n_top")
    cli.config_option(p, "head.c_seeds")
    for name, text in OUTPUTS.items():
        p.add_argument("--" + name.replace("_", "-"), required=True, help=f"output {text}")
    return p


def read_inputs(args: argparse.Namespace, background: ThreadPoolExecutor) -> tuple[pd.DataFrame, dict, list[int]]:
    """The images (id, split, label), each head's input matrix (rows in the same order), map shape.
    The maps are decoded on ``background`` while the heads that do not need them are fitted: their
    heads' matrices are functions that wait for them."""
    for path, key in ((args.features, "features_sha256"), (args.maps, "maps_sha256")):
        check_recorded_digest(path, args.features_info, key)
    maps = background.submit(read_maps, args.maps)
    features = pd.read_parquet(args.features)
    pixels = pd.read_parquet(args.pixels)
    ids = features["image_id"].tolist()
    if pixels["image_id"].tolist() != ids:
        raise UserError(f"{args.features} and {args.pixels} do not hold the same images in order")
    shape = read_json(args.features_info)["feature_map_shape"]

    def flat_maps() -> np.ndarray:
        map_meta, flat = maps.result()
        if map_meta["image_id"].tolist() != ids:
            raise UserError(f"{args.features} and {args.maps} do not hold the same images in order")
        return flat

    return features[["image_id", "split", "label"]], head_matrices(features, pixels, flat_maps, shape), shape


def write_tables(results: HeadResults, tables: dict[str, pd.DataFrame], args: argparse.Namespace) -> None:
    """Every table and the GAP head's pickled model."""
    for name, table in tables.items():
        write_tsv(table, getattr(args, name))
    write_parquet(predictions_table(results), args.predictions)
    record = {"model": results.fits["gap"].model, "sklearn_version": sklearn_version, "features": feature_columns()}
    with atomic_path(args.model) as tmp:
        tmp.write_bytes(pickle.dumps(record))


def write_figures(
    results: HeadResults, tables: dict[str, pd.DataFrame], gap_x: np.ndarray, args: argparse.Namespace
) -> None:
    """Every head's accuracy and ROC; the GAP head's confusion, calibration, coefficients, score grids."""
    plots.setup()
    plots.heads_figure(tables["heads"], args.heads_figure)
    plots.roc_figure(results.y_valid, {name: results.fits[name].p_valid for name in HEADS}, args.roc_figure)
    confusion = results.evaluated["gap"]["confusion_matrix"]["rows_true_cols_predicted"]
    plots.confusion_figure(confusion, CLASS_NAMES, args.confusion_figure)
    plots.calibration_figure(tables["calibration"], args.calibration_figure)
    plots.coefficients_figure(tables["coefficients"], args.n_top, args.coefficients_figure)
    plots.score_grids_figure(results.images, gap_x, CLASS_NAMES, args.score_grids_figure)


def main(args: argparse.Namespace) -> None:
    settings = cli.settings_from_args(HeadSettings, args, threads=cli.job_threads(args.threads))
    with ThreadPoolExecutor(max_workers=1) as background:
        images, matrices, map_shape = read_inputs(args, background)
        results = fit_and_evaluate(images, matrices, settings, args.c_seeds)
    tables = head_tables(results)
    write_tables(results, tables, args)
    write_figures(results, tables, matrices["gap"], args)
    write_json(metrics_record(results, settings, map_shape), args.metrics)
    accuracy = results.evaluated["gap"]["accuracy"]["value"]
    cli.log.info("GAP head: C=%g, validation accuracy %.3f", results.fits["gap"].chosen_c, accuracy)


if __name__ == "__main__":
    cli.run(build_parser, main)
