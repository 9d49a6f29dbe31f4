"""Bootstrap confidence intervals (percentile method, seeded)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_mean_ci(
    values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``values`` and a percentile bootstrap interval for it."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size == 1 or n_boot <= 0:
        return mean, mean, mean
    # Means of resamples from multinomial counts: memory O(n_boot × n) in chunks.
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // values.size)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def bootstrap_metric_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    y_score: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """A metric on all pairs and a percentile bootstrap interval over resampled pairs.

    Resamples with a single class present (where a metric is undefined) are redrawn.
    """
    estimate = float(metric(y_true, y_score))
    stats: list[float] = []
    n = len(y_true)
    attempts = 0
    while len(stats) < n_boot and attempts < 10 * n_boot:
        attempts += 1
        idx = rng.integers(0, n, size=n)
        if np.unique(y_true[idx]).size < 2:
            continue
        stats.append(float(metric(y_true[idx], y_score[idx])))
    if not stats:
        return estimate, float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return estimate, float(low), float(high)
