"""The classification head: scaled logistic regression on the 512 GAP scores."""

from __future__ import annotations

from collections.abc import Sequence
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

from .io import WorkflowError
from .stats import bootstrap_classification_ci, resample_indices, resampled_classification_metrics


def make_pipeline(max_iter: int) -> Pipeline:
    """StandardScaler followed by L2 logistic regression (lbfgs, deterministic)."""
    return Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=max_iter, solver="lbfgs"))])


def fit_with_cv(
    x_train: np.ndarray, y_train: np.ndarray, c_grid: Sequence[float], folds: int, seed: int, max_iter: int
) -> tuple[Pipeline, pd.DataFrame]:
    """Choose C by stratified k-fold log loss on the training split; refit on all of it."""
    n_min = int(np.bincount(y_train, minlength=2).min())
    if n_min < folds:
        raise WorkflowError(
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
            rows.append({"comparison": f"{first} - {second}", "metric": metric, "difference": difference,
                         "ci_low": float(low), "ci_high": float(high)})  # fmt: skip
    return pd.DataFrame(rows)
