#!/usr/bin/env python
"""Stage 6: logistic-regression heads (C by stratified CV) on the GAP scores, global-max (GMP)
scores, the flattened feature map and raw pixels, plus the majority class, all on one split:
validation metrics with 95% intervals, paired differences, figures."""

import argparse
import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn import __version__ as sklearn_version
from sklearn.metrics import roc_curve
from threadpoolctl import threadpool_limits

from poolkit import cli, plots
from poolkit.head import (
    calibration_table,
    evaluate,
    fit_with_cv,
    global_max_scores,
    majority_baseline,
    paired_differences,
    roc_table,
)
from poolkit.io import (
    WorkflowError,
    atomic_path,
    feature_columns,
    read_json,
    read_maps,
    write_json,
    write_parquet,
    write_tsv,
)

CLASS_NAMES = ["Car", "Truck"]
METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")
#: The heads, in the order they are shown: name → what they see.
HEADS = {
    "gap": "512 global-average-pooled scores",
    "gmp": "512 global-max-pooled scores",
    "flatten": "the flattened last feature map",
    "pixels": "downsampled raw pixels",
}
PAIRS = [("gap", "flatten"), ("gap", "gmp")]
OUTPUTS = {
    "metrics": "JSON of every head's validation metrics with intervals, and the paired differences",
    "model": "pickled scikit-learn pipeline of the GAP head",
    "predictions": "Parquet of validation predictions of every head",
    "cv": "TSV of the cross-validated log loss per head and C",
    "heads": "TSV of every head's metrics and parameter count",
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
    for key in ("c_grid", "cv_folds", "max_iter", "n_boot", "seed", "n_top"):
        cli.config_option(p, f"head.{key}")
    for name, text in OUTPUTS.items():
        p.add_argument("--" + name.replace("_", "-"), required=True, help=f"output {text}")
    return p


def design_matrices(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[int]]:
    """The images (id, split, label) and each head's input matrix, rows in the same order."""
    features = pd.read_parquet(args.features)
    map_meta, flat_maps = read_maps(args.maps)
    pixels = pd.read_parquet(args.pixels)
    ids = features["image_id"].tolist()
    if map_meta["image_id"].tolist() != ids or pixels["image_id"].tolist() != ids:
        raise WorkflowError(f"{args.features}, {args.maps} and {args.pixels} do not hold the same images in order")
    shape = read_json(args.features_info)["feature_map_shape"]
    matrices = {
        "gap": features[feature_columns()].to_numpy(np.float64),
        "gmp": global_max_scores(flat_maps, shape).astype(np.float64),
        "flatten": flat_maps.astype(np.float64),
        "pixels": pixels[[c for c in pixels.columns if c.startswith("p")]].to_numpy(np.float64),
    }
    return features[["image_id", "split", "label"]], matrices, shape


def fit_heads(images: pd.DataFrame, matrices: dict[str, np.ndarray], args: argparse.Namespace) -> dict:
    """Fit every head on the training split; validation probabilities, CV tables and models."""
    train = (images["split"] == "train").to_numpy()
    y_train = images.loc[train, "label"].to_numpy(int)
    fits = {}
    for name, x in matrices.items():
        model, cv = fit_with_cv(x[train], y_train, args.c_grid, args.cv_folds, args.seed, args.max_iter)
        with threadpool_limits(1):
            p_valid = model.predict_proba(x[~train])[:, 1]
        fits[name] = {"model": model, "cv": cv.assign(model=name), "p": p_valid, "n_features": x.shape[1],
                      "parameters": x.shape[1] + 1}  # fmt: skip
        cli.log.info("head %s: %d features, C=%g", name, x.shape[1], model.named_steps["logreg"].C)
    n_valid = int((~train).sum())
    fits["majority"] = {"model": None, "cv": None, "p": majority_baseline(y_train, n_valid), "n_features": 0,
                        "parameters": 1}  # fmt: skip
    return fits


def heads_table(evaluated: dict[str, dict], fits: dict[str, dict]) -> pd.DataFrame:
    """One row per head: what it sees, its parameter count, chosen C and metrics with intervals."""
    rows = []
    for name, metrics in evaluated.items():
        fit = fits[name]
        row = {
            "model": name,
            "input": HEADS.get(name, "nothing (the training split's majority class)"),
            "n_features": fit["n_features"],
            "parameters": fit["parameters"],
            "chosen_C": float(fit["model"].named_steps["logreg"].C) if fit["model"] is not None else float("nan"),
        }
        for m in METRICS:
            row.update({m: metrics[m]["value"], f"{m}_lo": metrics[m]["ci_low"], f"{m}_hi": metrics[m]["ci_high"]})
        rows.append(row)
    return pd.DataFrame(rows)


def heads_figure(heads: pd.DataFrame, path: str) -> None:
    """Accuracy and ROC AUC of every head with 95% intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(heads) + 1.6), sharey=True, layout="constrained")
    order = heads["model"].tolist()[::-1]
    for ax, metric, label in ((axes[0], "accuracy", "validation accuracy"), (axes[1], "roc_auc", "ROC AUC")):
        for y, name in enumerate(order):
            row = heads[heads["model"] == name].iloc[0]
            ax.errorbar(row[metric], y, xerr=[[row[metric] - row[f"{metric}_lo"]], [row[f"{metric}_hi"] - row[metric]]],
                        fmt="o", capsize=3, color=plots.PALETTE[name])  # fmt: skip
        ax.axvline(0.5, color="grey", ls="--", lw=0.8)
        ax.set(xlabel=label, xlim=(0.3, 1.0))
    axes[0].set_yticks(
        range(len(order)), [f"{n} ({heads.set_index('model').loc[n, 'parameters']:,} par.)" for n in order]
    )
    fig.suptitle("Heads on the same validation split (95% intervals)", fontweight="bold")
    plots.save(fig, path)


def gap_figures(args: argparse.Namespace, y_valid: np.ndarray, fits: dict, gap_metrics: dict, images, gap_x) -> None:
    """ROC of every head; confusion, calibration, coefficients and score grids of the GAP head."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4), layout="constrained")
    for name in HEADS:
        fpr, tpr, _ = roc_curve(y_valid, fits[name]["p"])
        ax.plot(fpr, tpr, color=plots.PALETTE[name], lw=2 if name == "gap" else 1.3, label=name)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set(xlabel="false-positive rate (cars called trucks)", ylabel="true-positive rate (trucks found)",
           title="ROC, validation split")  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    plots.save(fig, args.roc_figure)
    confusion_figure(gap_metrics["confusion_matrix"]["rows_true_cols_predicted"], args.confusion_figure)
    calibration_figure(calibration_table(y_valid, fits["gap"]["p"]), args.calibration_figure)
    coefficients_figure(coefficient_table(fits["gap"]["model"]), args.n_top, args.coefficients_figure)
    score_grids_figure(images, gap_x, args.score_grids_figure)


def confusion_figure(matrix: list[list[int]], path: str) -> None:
    fig, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    sns.heatmap(np.array(matrix), annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES)  # fmt: skip
    ax.set(xlabel="predicted class", ylabel="true class", title="GAP head: confusion matrix")
    plots.save(fig, path)


def calibration_figure(calib: pd.DataFrame, path: str) -> None:
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    ax.plot(calib["mean_predicted"], calib["observed_share"], marker="o", color=plots.PALETTE["gap"], label="GAP head")
    ax.set(xlabel="predicted P(truck)", ylabel="observed share of trucks", title="Calibration (10 bins)",
           xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    ax.legend(loc="upper left")
    plots.save(fig, path)


def coefficient_table(model) -> pd.DataFrame:
    """The GAP head's coefficients, largest magnitude first."""
    coef = model.named_steps["logreg"].coef_[0]
    table = pd.DataFrame({"feature": feature_columns(), "coefficient": coef, "abs_coefficient": np.abs(coef)})
    table = table.sort_values(["abs_coefficient", "feature"], ascending=[False, True]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def coefficients_figure(coefs: pd.DataFrame, n_top: int, path: str) -> None:
    top = coefs.head(n_top)
    fig, ax = plt.subplots(figsize=(6, 0.28 * n_top + 1.2), layout="constrained")
    colours = [plots.PALETTE["gmp"] if c > 0 else plots.PALETTE["gap"] for c in top["coefficient"]]
    ax.barh(top["feature"][::-1], top["coefficient"][::-1], color=colours[::-1])
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="coefficient per standard deviation (> 0 favours Truck)", ylabel="GAP score",
           title=f"The {n_top} most influential scores")  # fmt: skip
    plots.save(fig, path)


def score_grids_figure(images: pd.DataFrame, gap_x: np.ndarray, path: str) -> None:
    """The 512 scores as the exercise's 16×32 grid: two validation images per class and class means."""
    valid, train = (images["split"] == "valid").to_numpy(), (images["split"] == "train").to_numpy()
    labels = images["label"].to_numpy()
    panels = []
    for k in (0, 1):
        for i in np.flatnonzero(valid & (labels == k))[:2]:
            panels.append((f"{CLASS_NAMES[k]}: {images['image_id'].iloc[i].split('/')[-1]}", gap_x[i]))
    panels += [(f"mean of training {CLASS_NAMES[k]}s", gap_x[train & (labels == k)].mean(axis=0)) for k in (0, 1)]
    vmax = max(float(np.max(v)) for _, v in panels) or 1.0
    fig, axes = plt.subplots(len(panels) // 2, 2, figsize=(10, 1.9 * (len(panels) // 2)), layout="constrained")
    for ax, (title, values) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(values.reshape(16, 32), vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8, label="GAP score")
    fig.suptitle("The 512 pooled feature scores as a 16×32 grid", fontweight="bold")
    plots.save(fig, path)


def main(args: argparse.Namespace) -> None:
    images, matrices, map_shape = design_matrices(args)
    fits = fit_heads(images, matrices, args)
    valid = (images["split"] == "valid").to_numpy()
    y_valid = images.loc[valid, "label"].to_numpy(int)
    evaluated = {name: evaluate(y_valid, fit["p"], args.n_boot, args.seed) for name, fit in fits.items()}
    heads = heads_table(evaluated, fits)
    differences = paired_differences(y_valid, {n: f["p"] for n, f in fits.items()}, PAIRS, args.n_boot, args.seed)
    gap = fits["gap"]
    predictions = (
        images[valid]
        .reset_index(drop=True)
        .assign(
            p_truck=gap["p"], predicted=(gap["p"] >= 0.5).astype(int), **{f"p_truck_{n}": fits[n]["p"] for n in HEADS}
        )
    )
    write_tsv(pd.concat([f["cv"] for f in fits.values() if f["cv"] is not None])[["model", "C", "cv_log_loss",
              "cv_log_loss_sd", "chosen"]], args.cv)  # fmt: skip
    write_tsv(heads, args.heads)
    write_tsv(differences, args.differences)
    write_tsv(coefficient_table(gap["model"]), args.coefficients)
    write_tsv(roc_table(y_valid, gap["p"]), args.roc)
    write_tsv(calibration_table(y_valid, gap["p"]), args.calibration)
    write_parquet(predictions, args.predictions)
    with atomic_path(args.model) as tmp:
        tmp.write_bytes(
            pickle.dumps({"model": gap["model"], "sklearn_version": sklearn_version, "features": feature_columns()})
        )
    plots.setup()
    heads_figure(heads, args.heads_figure)
    gap_figures(args, y_valid, fits, evaluated["gap"], images, matrices["gap"])
    write_json(metrics_record(args, images, fits, evaluated, differences, map_shape), args.metrics)
    cli.log.info("GAP head: C=%g, validation accuracy %.3f", gap["model"].named_steps["logreg"].C,
                 evaluated["gap"]["accuracy"]["value"])  # fmt: skip


def metrics_record(
    args, images: pd.DataFrame, fits: dict, evaluated: dict, differences: pd.DataFrame, map_shape: list[int]
) -> dict:
    """metrics.json: the GAP head's metrics at the top (as before), every head under ``models``."""
    parameters = {name: fit["parameters"] for name, fit in fits.items()}
    gap = evaluated["gap"]
    return {
        "seed": args.seed,
        "n_train": int((images["split"] == "train").sum()),
        "n_valid": int((images["split"] == "valid").sum()),
        "chosen_C": float(fits["gap"]["model"].named_steps["logreg"].C),
        "c_grid": args.c_grid,
        "cv_folds": args.cv_folds,
        "parameters": {
            "feature_map_shape": map_shape,
            "gap_head": parameters["gap"],
            "flatten_head": parameters["flatten"],
            "ratio": parameters["flatten"] / parameters["gap"],
        },
        "models": {name: {**metrics, "parameters": parameters[name]} for name, metrics in evaluated.items()},
        "differences": differences.to_dict(orient="records"),
        **{k: gap[k] for k in METRICS},
        "confusion_matrix": gap["confusion_matrix"],
    }


if __name__ == "__main__":
    cli.run(build_parser, main)
