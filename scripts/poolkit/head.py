"""The classification heads: scaled logistic regression with C chosen by cross-validation, on the
512 GAP scores, the 512 global-max scores, the flattened feature map and raw pixels, plus the
majority class, all on one split; validation metrics with intervals and paired differences."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .io import UserError, feature_columns
from .stats import bootstrap_classification_ci, resample_indices, resampled_classification_metrics

log = logging.getLogger(__name__)


def make_pipeline(max_iter: int) -> Pipeline:
    """StandardScaler followed by L2 logistic regression (lbfgs, deterministic)."""
    return Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=max_iter, solver="lbfgs"))])


def fit_with_cv(
    x_train: np.ndarray, y_train: np.ndarray, c_grid: Sequence[float], folds: int, seed: int, max_iter: int
) -> tuple[Pipeline, pd.DataFrame]:
    """Choose C by stratified k-fold log loss on the training split; refit on all of it."""
    n_min = int(np.bincount(y_train, minlength=2).min())
    if n_min < folds:
        raise UserError(
            f"head.cv_folds is {folds} but the smaller training class has only {n_min} images; "
            "lower head.cv_folds or use more training images"
        )
    search = GridSearchCV(
        make_pipeline(max_iter),
        {"logreg__C": list(c_grid)},
        scoring="neg_log_loss",
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    with threadpool_limits(1):
        search.fit(x_train, y_train)
    results = search.cv_results_
    table = pd.DataFrame(
        {
            "C": np.asarray(results["param_logreg__C"], dtype=float),
            "cv_log_loss": -results["mean_test_score"],
            "cv_log_loss_sd": results["std_test_score"],
            "chosen": np.asarray(results["rank_test_score"]) == 1,
        }
    )
    return search.best_estimator_, table


def evaluate(y_true: np.ndarray, p_truck: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Validation metrics (scikit-learn) with 95% bootstrap intervals (resampling images)."""
    predicted = (p_truck >= 0.5).astype(int)
    values = {
        "accuracy": accuracy_score(y_true, predicted),
        "balanced_accuracy": balanced_accuracy_score(y_true, predicted),
        "roc_auc": roc_auc_score(y_true, p_truck),
        "log_loss": log_loss(y_true, p_truck, labels=[0, 1]),
        "brier": brier_score_loss(y_true, p_truck),
    }
    intervals = bootstrap_classification_ci(y_true, p_truck, resample_indices(len(y_true), max(n_boot, 0), seed))
    metrics: dict[str, Any] = {
        name: {
            "value": float(value),
            "ci_low": intervals.get(name, (float(value), float(value)))[0],
            "ci_high": intervals.get(name, (float(value), float(value)))[1],
        }
        for name, value in values.items()
    }
    matrix = confusion_matrix(y_true, predicted, labels=[0, 1])
    metrics["confusion_matrix"] = {
        "labels": ["Car", "Truck"],
        "rows_true_cols_predicted": matrix.tolist(),
    }
    metrics["n"] = len(y_true)
    return metrics


def calibration_table(y_true: np.ndarray, p_truck: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed truck share against mean predicted probability, per probability bin."""
    observed, predicted = calibration_curve(y_true, p_truck, n_bins=n_bins, strategy="uniform")
    return pd.DataFrame({"mean_predicted": predicted, "observed_share": observed})


def roc_table(y_true: np.ndarray, p_truck: np.ndarray) -> pd.DataFrame:
    """The ROC curve as a table."""
    fpr, tpr, thresholds = roc_curve(y_true, p_truck)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def majority_baseline(y_train: np.ndarray, n_valid: int) -> np.ndarray:
    """The majority-class baseline's probability of 'Truck' for each validation image."""
    dummy = DummyClassifier(strategy="prior").fit(np.zeros((len(y_train), 1)), y_train)
    return dummy.predict_proba(np.zeros((n_valid, 1)))[:, 1]


def global_max_scores(flat_maps: np.ndarray, map_shape: Sequence[int]) -> np.ndarray:
    """Global max pooling (GMP) of flattened (h, w, c) feature maps: one score per channel."""
    h, w, c = map_shape
    return flat_maps.reshape(len(flat_maps), h * w, c).max(axis=1)


def paired_differences(
    y_true: np.ndarray, p_by_model: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]], n_boot: int, seed: int
) -> pd.DataFrame:
    """Differences of accuracy and ROC AUC between models (first − second) with paired 95% bootstrap
    intervals: every model is scored on the same resampled images, those of :func:`evaluate`."""
    idx = resample_indices(len(y_true), max(n_boot, 0), seed)
    every = np.arange(len(y_true))[None, :]
    models = sorted({name for pair in pairs for name in pair})
    point = {m: resampled_classification_metrics(y_true, p_by_model[m], every) for m in models}
    boot = {m: resampled_classification_metrics(y_true, p_by_model[m], idx) for m in models} if n_boot > 0 else {}
    rows = []
    for first, second in pairs:
        for metric in ("accuracy", "roc_auc"):
            if boot:
                low, high = np.nanquantile(boot[first][metric] - boot[second][metric], [0.025, 0.975])
            else:
                low = high = np.nan
            difference = float(point[first][metric][0] - point[second][metric][0])
            rows.append(
                {
                    "comparison": f"{first} - {second}",
                    "metric": metric,
                    "difference": difference,
                    "ci_low": float(low),
                    "ci_high": float(high),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the heads of one run
CLASS_NAMES = ["Car", "Truck"]
METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier")
#: The heads, in the order they are shown: name → what they see.
HEADS = {
    "gap": "512 global-average-pooled scores",
    "gmp": "512 global-max-pooled scores",
    "flatten": "the flattened last feature map",
    "pixels": "downsampled raw pixels",
}
#: The paired differences reported: (head, head it is compared with).
PAIRS = [("gap", "flatten"), ("gap", "gmp")]


@dataclass(frozen=True, kw_only=True)
class HeadSettings:
    """How the heads are fitted and evaluated (the config's ``head`` section)."""

    c_grid: list[float]
    cv_folds: int
    max_iter: int
    n_boot: int
    seed: int


@dataclass(frozen=True)
class HeadFit:
    """One fitted head: its model (None for the majority class), CV table and validation P(truck)."""

    name: str
    model: Pipeline | None
    cv: pd.DataFrame | None
    p_valid: np.ndarray
    n_features: int

    @property
    def parameters(self) -> int:
        """Coefficients plus intercept (1 for the majority class)."""
        return self.n_features + 1

    @property
    def chosen_c(self) -> float:
        """The C chosen by cross-validation (NaN for the majority class)."""
        return float(self.model.named_steps["logreg"].C) if self.model is not None else float("nan")


@dataclass(frozen=True)
class HeadResults:
    """Every head of one run, evaluated on the validation split."""

    images: pd.DataFrame
    fits: dict[str, HeadFit]
    evaluated: dict[str, dict[str, Any]]
    differences: pd.DataFrame

    @property
    def valid(self) -> np.ndarray:
        return (self.images["split"] == "valid").to_numpy()

    @property
    def y_valid(self) -> np.ndarray:
        return self.images.loc[self.valid, "label"].to_numpy(int)


def design_matrices(
    features: pd.DataFrame, flat_maps: np.ndarray, map_shape: Sequence[int], pixels: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Each head's input matrix (float64), rows in the order of ``features``."""
    return {
        "gap": features[feature_columns()].to_numpy(np.float64),
        "gmp": global_max_scores(flat_maps, map_shape).astype(np.float64),
        "flatten": flat_maps.astype(np.float64),
        "pixels": pixels[[c for c in pixels.columns if c.startswith("p")]].to_numpy(np.float64),
    }


def fit_heads(images: pd.DataFrame, matrices: dict[str, np.ndarray], settings: HeadSettings) -> dict[str, HeadFit]:
    """Fit every head on the training split (C by CV), plus the majority class."""
    train = (images["split"] == "train").to_numpy()
    y_train = images.loc[train, "label"].to_numpy(int)
    fits = {}
    for name, x in matrices.items():
        model, cv = fit_with_cv(x[train], y_train, settings.c_grid, settings.cv_folds, settings.seed, settings.max_iter)
        with threadpool_limits(1):
            p_valid = model.predict_proba(x[~train])[:, 1]
        fits[name] = HeadFit(name, model, cv.assign(model=name), p_valid, x.shape[1])
        log.info("head %s: %d features, C=%g", name, x.shape[1], fits[name].chosen_c)
    fits["majority"] = HeadFit("majority", None, None, majority_baseline(y_train, int((~train).sum())), 0)
    return fits


def fit_and_evaluate(images: pd.DataFrame, matrices: dict[str, np.ndarray], settings: HeadSettings) -> HeadResults:
    """Fit every head, then its validation metrics with intervals and the paired differences."""
    fits = fit_heads(images, matrices, settings)
    y_valid = images.loc[images["split"] == "valid", "label"].to_numpy(int)
    evaluated = {name: evaluate(y_valid, fit.p_valid, settings.n_boot, settings.seed) for name, fit in fits.items()}
    p_valid = {name: fit.p_valid for name, fit in fits.items()}
    differences = paired_differences(y_valid, p_valid, PAIRS, settings.n_boot, settings.seed)
    return HeadResults(images, fits, evaluated, differences)


def heads_table(results: HeadResults) -> pd.DataFrame:
    """One row per head: what it sees, its parameter count, chosen C and metrics with intervals."""
    rows = []
    for name, metrics in results.evaluated.items():
        fit = results.fits[name]
        row = {
            "model": name,
            "input": HEADS.get(name, "nothing (the training split's majority class)"),
            "n_features": fit.n_features,
            "parameters": fit.parameters,
            "chosen_C": fit.chosen_c,
        }
        for m in METRICS:
            row.update({m: metrics[m]["value"], f"{m}_lo": metrics[m]["ci_low"], f"{m}_hi": metrics[m]["ci_high"]})
        rows.append(row)
    return pd.DataFrame(rows)


def cv_table(results: HeadResults) -> pd.DataFrame:
    """The cross-validated log loss of every head and C."""
    tables = [fit.cv for fit in results.fits.values() if fit.cv is not None]
    return pd.concat(tables)[["model", "C", "cv_log_loss", "cv_log_loss_sd", "chosen"]]


def predictions_table(results: HeadResults) -> pd.DataFrame:
    """Validation images with the GAP head's P(truck) and class, and every head's P(truck)."""
    gap = results.fits["gap"].p_valid
    columns = {f"p_truck_{name}": results.fits[name].p_valid for name in HEADS}
    images = results.images[results.valid].reset_index(drop=True)
    return images.assign(p_truck=gap, predicted=(gap >= 0.5).astype(int), **columns)


def coefficient_table(model: Pipeline) -> pd.DataFrame:
    """The GAP head's coefficients, largest magnitude first."""
    coef = model.named_steps["logreg"].coef_[0]
    table = pd.DataFrame({"feature": feature_columns(), "coefficient": coef, "abs_coefficient": np.abs(coef)})
    table = table.sort_values(["abs_coefficient", "feature"], ascending=[False, True]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def metrics_record(results: HeadResults, settings: HeadSettings, map_shape: list[int]) -> dict[str, Any]:
    """metrics.json: the GAP head's metrics at the top, every head under ``models``."""
    parameters = {name: fit.parameters for name, fit in results.fits.items()}
    gap = results.evaluated["gap"]
    split = results.images["split"]
    return {
        "seed": settings.seed,
        "n_train": int((split == "train").sum()),
        "n_valid": int((split == "valid").sum()),
        "chosen_C": results.fits["gap"].chosen_c,
        "c_grid": settings.c_grid,
        "cv_folds": settings.cv_folds,
        "parameters": {
            "feature_map_shape": map_shape,
            "gap_head": parameters["gap"],
            "flatten_head": parameters["flatten"],
            "ratio": parameters["flatten"] / parameters["gap"],
        },
        "models": {name: {**metrics, "parameters": parameters[name]} for name, metrics in results.evaluated.items()},
        "differences": results.differences.to_dict(orient="records"),
        **{k: gap[k] for k in METRICS},
        "confusion_matrix": gap["confusion_matrix"],
    }
