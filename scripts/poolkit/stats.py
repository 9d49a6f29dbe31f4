"""95% intervals: Wilson score intervals for shares, t intervals for means, and seeded
percentile bootstraps for classification metrics and paired differences."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps


def share_interval(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Share ``successes / n`` and its Wilson score interval (never outside [0, 1], sensible at 0 and 1)."""
    k, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = float(sps.norm.ppf(0.5 + level / 2))
    share = k / n
    denominator = 1 + z**2 / n
    centre = (share + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(share * (1 - share) / n + z**2 / (4 * n**2)) / denominator
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0, 1))  # exact ends where rounding would miss them
    high = np.where(k == n, 1.0, np.clip(centre + half, 0, 1))
    return share, low, high


def mean_interval(
    n: np.ndarray, total: np.ndarray, total_sq: np.ndarray, constant: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, ...]:
    """Mean and its t interval from count, sum and sum of squares (``constant``: all values equal)."""
    n = np.asarray(n, dtype=np.float64)
    total, total_sq = np.asarray(total, dtype=np.float64), np.asarray(total_sq, dtype=np.float64)
    mean = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.clip((total_sq - total * mean) / (n - 1), 0, None)
        half = sps.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * np.sqrt(variance / n)
    half = np.where(np.asarray(constant, dtype=bool), 0.0, half)
    return mean, mean - half, mean + half


def resampled_classification_metrics(y_true: np.ndarray, p_pos: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Binary-classification metrics of many resamples at once (rows of ``idx``).

    Accuracy and balanced accuracy at threshold 0.5, ROC AUC (Mann-Whitney, ties
    averaged), log loss (probabilities clipped to [eps, 1 - eps]) and Brier score.
    Rows holding a single class get NaN for the metrics that need both.
    """
    from scipy.stats import rankdata

    y = y_true[idx].astype(np.float64)
    p = p_pos[idx].astype(np.float64)
    predicted = (p >= 0.5).astype(np.float64)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    both = (n_pos > 0) & (n_neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall_pos = (predicted * y).sum(axis=1) / n_pos
        recall_neg = ((1 - predicted) * (1 - y)).sum(axis=1) / n_neg
        ranks = rankdata(p, axis=1)
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    eps = np.finfo(np.float64).eps
    clipped = np.clip(p, eps, 1 - eps)
    return {
        "accuracy": (predicted == y).mean(axis=1),
        "balanced_accuracy": np.where(both, (recall_pos + recall_neg) / 2, np.nan),
        "roc_auc": np.where(both, auc, np.nan),
        "log_loss": -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean(axis=1),
        "brier": ((p - y) ** 2).mean(axis=1),
    }


def bootstrap_classification_ci(
    y_true: np.ndarray, p_pos: np.ndarray, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of every metric of :func:`resampled_classification_metrics`."""
    if n_boot <= 0:
        return {}
    idx = rng.integers(0, len(y_true), size=(n_boot, len(y_true)))
    alpha = (1 - level) / 2
    return {
        name: tuple(float(q) for q in np.nanquantile(values, [alpha, 1 - alpha]))  # type: ignore[misc]
        for name, values in resampled_classification_metrics(y_true, p_pos, idx).items()
    }
