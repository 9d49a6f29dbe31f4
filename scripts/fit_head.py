#!/usr/bin/env python
"""Stage 6: logistic-regression head on the 512 GAP scores (C by stratified CV),
baselines, validation metrics with bootstrap intervals, figures."""

import argparse
import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn import __version__ as sklearn_version
from threadpoolctl import threadpool_limits

from poolkit import cli, plots
from poolkit.head import calibration_table, evaluate, fit_with_cv, majority_baseline, roc_table
from poolkit.io import atomic_path, feature_columns, read_json, write_json, write_parquet, write_tsv

CLASS_NAMES = ["Car", "Truck"]


def split_xy(table: pd.DataFrame, columns: list[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    part = table[table["split"] == split]
    return part[columns].to_numpy(dtype=np.float64), part["label"].to_numpy(dtype=int)


def figures(
    args: argparse.Namespace,
    matrix: list[list[int]],
    roc: pd.DataFrame,
    calib: pd.DataFrame,
    coefs: pd.DataFrame,
    features: pd.DataFrame,
    auc: float,
    n_top: int,
) -> None:
    plots.setup()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot(roc["fpr"], roc["tpr"], color=plots.PALETTE["avg"], lw=2, label=f"GAP head (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set(
        xlabel="false-positive rate (cars called trucks)",
        ylabel="true-positive rate (trucks found)",
        title="ROC, validation split",
    )
    ax.legend(loc="lower right")
    plots.save(fig, args.roc_figure)

    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    sns.heatmap(
        np.array(matrix),
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        ax=ax,
        xticklabels=CLASS_NAMES,
        yticklabels=CLASS_NAMES,
    )
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (images)")
    plots.save(fig, args.confusion_figure)

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    ax.plot(calib["mean_predicted"], calib["observed_share"], marker="o", color=plots.PALETTE["max"], label="GAP head")
    ax.set(
        xlabel="predicted P(truck)",
        ylabel="observed share of trucks",
        title="Calibration (10 bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    plots.save(fig, args.calibration_figure)

    top = coefs.head(n_top)
    fig, ax = plt.subplots(figsize=(6, 0.28 * n_top + 1.2))
    colours = [plots.PALETTE["max"] if c > 0 else plots.PALETTE["avg"] for c in top["coefficient"]]
    ax.barh(top["feature"][::-1], top["coefficient"][::-1], color=colours[::-1])
    ax.axvline(0, color="black", lw=0.8)
    ax.set(
        xlabel="coefficient per standard deviation (> 0 favours Truck)",
        ylabel="GAP score",
        title=f"The {n_top} most influential scores",
    )
    plots.save(fig, args.coefficients_figure)

    cols = feature_columns()
    valid = features[features["split"] == "valid"]
    train = features[features["split"] == "train"]
    examples = [valid[valid["label"] == k].iloc[:2] for k in (0, 1)]
    panels = [
        (f"{CLASS_NAMES[r['label']]}: {r['image_id'].split('/')[-1]}", r[cols].to_numpy(float))
        for part in examples
        for _, r in part.iterrows()
    ]
    panels += [
        (f"mean of training {name}s", train[train["label"] == k][cols].to_numpy(float).mean(axis=0))
        for k, name in enumerate(CLASS_NAMES)
    ]
    vmax = max(float(np.max(v)) for _, v in panels) or 1.0
    fig, axes = plt.subplots(len(panels) // 2, 2, figsize=(10, 1.9 * (len(panels) // 2)))
    for ax, (title, values) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(values.reshape(16, 32), vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8, label="GAP score")
    fig.suptitle("The 512 pooled feature scores as a 16×32 grid", fontweight="bold")
    plots.save(fig, args.score_grids_figure)


OUTPUTS = {
    "metrics": "JSON of the validation metrics with their intervals",
    "model": "pickled scikit-learn pipeline of the GAP head",
    "predictions": "Parquet of validation predictions",
    "cv": "TSV of the cross-validated log loss per C",
    "baselines": "TSV of every model's metrics",
    "coefficients": "TSV of the head's coefficients",
    "roc": "TSV of the ROC curve",
    "calibration": "TSV of the calibration bins",
    "roc_figure": "PNG",
    "confusion_figure": "PNG",
    "calibration_figure": "PNG",
    "coefficients_figure": "PNG",
    "score_grids_figure": "PNG",
}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--features", required=True)
    p.add_argument("--features-info", required=True)
    p.add_argument("--pixels", required=True)
    for key in ("c_grid", "cv_folds", "max_iter", "n_boot", "seed", "n_top"):
        cli.config_option(p, f"head.{key}")
    for name, text in OUTPUTS.items():
        p.add_argument("--" + name.replace("_", "-"), required=True, help=f"output {text}")
    return p


def main(args: argparse.Namespace) -> None:

    features = pd.read_parquet(args.features)
    pixels = pd.read_parquet(args.pixels)
    cols = feature_columns()
    pixel_cols = [c for c in pixels.columns if c.startswith("p")]
    x_train, y_train = split_xy(features, cols, "train")
    x_valid, y_valid = split_xy(features, cols, "valid")

    model, cv_table = fit_with_cv(x_train, y_train, args.c_grid, args.cv_folds, args.seed, args.max_iter)
    with threadpool_limits(1):
        p_valid = model.predict_proba(x_valid)[:, 1]
        pixel_model, _pixel_cv = fit_with_cv(
            *split_xy(pixels, pixel_cols, "train"), args.c_grid, args.cv_folds, args.seed, args.max_iter
        )
        p_pixels = pixel_model.predict_proba(split_xy(pixels, pixel_cols, "valid")[0])[:, 1]
    p_majority = majority_baseline(y_train, len(y_valid))

    metrics_gap = evaluate(y_valid, p_valid, args.n_boot, args.seed)
    models = {
        "gap_logreg": metrics_gap,
        "pixels_logreg": evaluate(y_valid, p_pixels, args.n_boot, args.seed),
        "majority": evaluate(y_valid, p_majority, args.n_boot, args.seed),
    }
    feature_map = read_json(args.features_info)["feature_map_shape"]
    n_flat = int(np.prod(feature_map))
    coef = model.named_steps["logreg"].coef_[0]
    coefs = pd.DataFrame({"feature": cols, "coefficient": coef, "abs_coefficient": np.abs(coef)})
    coefs = coefs.sort_values(["abs_coefficient", "feature"], ascending=[False, True]).reset_index(drop=True)
    coefs.insert(0, "rank", np.arange(1, len(coefs) + 1))

    valid_ids = features.loc[features["split"] == "valid", "image_id"].to_numpy()
    predictions = pd.DataFrame(
        {
            "image_id": valid_ids,
            "split": "valid",
            "label": y_valid,
            "p_truck": p_valid,
            "predicted": (p_valid >= 0.5).astype(int),
            "p_truck_pixels": p_pixels,
        }
    )
    roc, calib = roc_table(y_valid, p_valid), calibration_table(y_valid, p_valid)
    baselines = pd.DataFrame(
        [
            {
                "model": name,
                **{
                    f"{m}{suffix}": models[name][m][key]
                    for m in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")
                    for suffix, key in (("", "value"), ("_lo", "ci_low"), ("_hi", "ci_high"))
                },
            }
            for name in models
        ]
    )
    chosen_c = float(model.named_steps["logreg"].C)
    write_tsv(cv_table, args.cv)
    write_tsv(coefs, args.coefficients)
    write_tsv(baselines, args.baselines)
    write_tsv(roc, args.roc)
    write_tsv(calib, args.calibration)
    write_parquet(predictions, args.predictions)
    with atomic_path(args.model) as tmp:
        tmp.write_bytes(pickle.dumps({"model": model, "sklearn_version": sklearn_version, "features": cols}))
    figures(
        args,
        metrics_gap["confusion_matrix"]["rows_true_cols_predicted"],
        roc,
        calib,
        coefs,
        features,
        metrics_gap["roc_auc"]["value"],
        args.n_top,
    )
    write_json(
        {
            "seed": args.seed,
            "n_train": len(y_train),
            "n_valid": len(y_valid),
            "chosen_C": chosen_c,
            "c_grid": args.c_grid,
            "cv_folds": args.cv_folds,
            "pixel_baseline": {"features": len(pixel_cols), "chosen_C": float(pixel_model.named_steps["logreg"].C)},
            "parameters": {
                "feature_map_shape": feature_map,
                "gap_head": 512 + 1,
                "flatten_head": n_flat + 1,
                "ratio": (n_flat + 1) / 513,
            },
            "models": models,
            **{k: metrics_gap[k] for k in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")},
            "confusion_matrix": metrics_gap["confusion_matrix"],
        },
        args.metrics,
    )
    cli.log.info("head: C=%g, validation accuracy %.3f", chosen_c, metrics_gap["accuracy"]["value"])


if __name__ == "__main__":
    cli.run(build_parser, main)
