"""95% intervals: Wilson score intervals for shares, t intervals for means, Korn–Graubard and t
intervals for shares and means of clustered observations (e.g. several trials or pairs of each
image), and seeded percentile bootstraps for classification metrics and paired differences.

scipy.stats (1.2 s to import) is imported inside the functions that use it: the Snakefile imports
this module (through ``poolkit.head``) for every parse."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd


def share_interval(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Share ``successes / n`` and its Wilson score interval (never outside [0, 1], sensible at 0 and 1)."""
    from scipy import stats as sps

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
    from scipy import stats as sps

    n = np.asarray(n, dtype=np.float64)
    total, total_sq = np.asarray(total, dtype=np.float64), np.asarray(total_sq, dtype=np.float64)
    mean = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.clip((total_sq - total * mean) / (n - 1), 0, None)
        half = sps.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * np.sqrt(variance / n)
    half = np.where(np.asarray(constant, dtype=bool), 0.0, half)
    return mean, mean - half, mean + half


def group_sums(frame: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Sufficient statistics of ``columns`` per group of ``by``: count (``n``), and for each column
    its sum, sum of squares, minimum and maximum. Sums of several tables' sums are the sums of the whole."""
    values = frame[list(columns)].astype(np.float64)
    keys = [frame[column] for column in by]
    grouped = values.groupby(keys, sort=True, observed=True)
    parts = [
        grouped.sum().add_suffix(":sum"),
        (values * values).groupby(keys, sort=True, observed=True).sum().add_suffix(":sq"),
        grouped.min().add_suffix(":min"),
        grouped.max().add_suffix(":max"),
    ]
    return pd.concat(parts, axis=1).assign(n=grouped.size())


def combine_sums(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Add up :func:`group_sums` of several tables (e.g. one per shard or batch of rows)."""
    stacked = pd.concat(list(parts))
    return collapse_sums(stacked, list(stacked.index.names))


def collapse_sums(sums: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`group_sums` per group of the index levels ``by`` from sums per finer group (e.g. per
    group and image): sums added, minima and maxima of the minima and maxima."""
    ops = {c: ("min" if c.endswith(":min") else "max" if c.endswith(":max") else "sum") for c in sums.columns}
    return sums.groupby(level=list(by), sort=True, observed=True).agg(ops)


def cluster_ratio_variance(counts: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratios ``sum(totals) / sum(counts)`` over k clusters and their variance between clusters.

    ``counts`` (k,) holds each cluster's number of observations, ``totals`` (k, m) the sums of m values
    over each cluster's observations. The variance is the linearised (Taylor) one of a ratio estimator
    with clusters as the sampling units, ``k / (k − 1) · Σ (total_i − ratio · count_i)² / (Σ count_i)²``:
    the observations of a cluster are not independent. Each (m,); the variance is NaN for k < 2."""
    counts, totals = np.asarray(counts, dtype=np.float64), np.asarray(totals, dtype=np.float64)
    k, n = len(counts), counts.sum()
    ratio = totals.sum(axis=0) / n
    residuals = totals - counts[:, None] * ratio
    variance = (residuals**2).sum(axis=0) / n**2 * (k / (k - 1) if k > 1 else np.nan)
    return ratio, variance


def clustered_mean_interval(counts: np.ndarray, totals: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Means of clustered observations (:func:`cluster_ratio_variance`) and their t intervals with
    k − 1 degrees of freedom (k clusters): mean, low and high ends, each (m,)."""
    mean, variance = cluster_ratio_variance(counts, totals)
    half = t_quantile(level, len(counts)) * np.sqrt(variance)
    return mean, mean - half, mean + half


def clustered_share_interval(counts: np.ndarray, successes: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """Shares of clustered 0/1 observations and their Korn–Graubard intervals (Survey Methodology 24,
    1998: the Clopper–Pearson interval at an effective sample size).

    The effective sample size is ``share (1 − share) / variance`` (:func:`cluster_ratio_variance`;
    the number of observations where the variance is 0), times ``(z / t_{k−1})²`` for few clusters,
    and at most the number of observations. Kept coverage of at least 93 % with 8 and 24 clusters
    in a simulation (``tests/test_intervals.py``) where the percentile bootstrap of clusters does
    not. ``counts`` (k,), ``successes`` (k, m); returns share, low and high ends, each (m,)."""
    from scipy import stats as sps

    share, variance = cluster_ratio_variance(counts, successes)
    n = float(np.sum(counts))
    with np.errstate(divide="ignore", invalid="ignore"):
        effective = np.where(variance > 0, share * (1 - share) / variance, n)
    effective = np.minimum(effective * (sps.norm.ppf(0.5 + level / 2) / t_quantile(level, len(counts))) ** 2, n)
    low, high = clopper_pearson(share * effective, effective, level)
    return share, low, high


def t_quantile(level: float, k: int) -> float:
    """The two-sided ``level`` quantile of Student's t with k − 1 degrees of freedom (NaN for k < 2)."""
    from scipy import stats as sps

    return float(sps.t.ppf(0.5 + level / 2, k - 1)) if k > 1 else float("nan")


def clopper_pearson(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson interval of ``successes / n`` (both may be fractional: beta quantiles), with
    the exact ends 0 and 1 where there are no successes or no failures."""
    from scipy import stats as sps

    x, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, sps.beta.ppf(alpha / 2, np.maximum(x, 1e-300), n - x + 1), 0.0)
        high = np.where(x < n, sps.beta.ppf(1 - alpha / 2, x + 1, np.maximum(n - x, 1e-300)), 1.0)
    return np.where(np.isnan(n), np.nan, low), np.where(np.isnan(n), np.nan, high)


def summarise_sums(
    sums: pd.DataFrame, shares: Mapping[str, str], means: Mapping[str, str], count: str = "n"
) -> pd.DataFrame:
    """One row per group: the count (named ``count``), then for each 0/1 column in ``shares`` its share
    with a Wilson interval and for each column in ``means`` its mean with a t interval, named by the
    mappings' values, each with ``_lo`` and ``_hi`` (95%)."""
    n = sums["n"].to_numpy()
    out = sums.index.to_frame(index=False)
    out[count] = n
    for column, name in shares.items():
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = share_interval(sums[f"{column}:sum"].to_numpy(), n)
    for column, name in means.items():
        constant = (sums[f"{column}:max"] == sums[f"{column}:min"]).to_numpy()
        interval = mean_interval(n, sums[f"{column}:sum"].to_numpy(), sums[f"{column}:sq"].to_numpy(), constant)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = interval
    return out


def binary_log_loss(y: np.ndarray, p_pos: np.ndarray) -> float:
    """scikit-learn's ``log_loss(y, p_pos, labels=[0, 1])`` with its arithmetic (each image's
    probability of its true class clipped to [eps, 1 − eps], then the mean of −log), without its input
    checks, which cost more than the fits of the small heads (6 ms a call, 700 calls a head)."""
    eps = np.finfo(np.float64).eps
    p_pos = np.asarray(p_pos, dtype=np.float64)
    p_true = np.where(np.asarray(y) == 1, np.clip(p_pos, eps, 1 - eps), np.clip(1 - p_pos, eps, 1 - eps))
    return float(np.mean(-np.log(p_true)))


def resampled_mann_whitney(y_true: np.ndarray, p_pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per resample (rows of ``idx``), the Mann-Whitney count: over (positive, negative) pairs, 1 where
    the positive scores higher, 1/2 on ties. Grouping equal scores once and counting each resample's
    positives and negatives per group gives the same exact half-integer as ranking every resample
    (the sum of the positives' averaged ranks minus n_pos(n_pos + 1)/2), without a sort per resample."""
    values, group = np.unique(np.asarray(p_pos, dtype=np.float64), return_inverse=True)
    cells = (np.arange(len(idx))[:, None] * len(values) + group[idx]).ravel()
    shape, size = (len(idx), len(values)), len(idx) * len(values)
    everyone = np.bincount(cells, minlength=size).reshape(shape).astype(np.float64)
    positives = np.bincount(cells, weights=(y_true[idx] == 1).ravel().astype(np.float64), minlength=size).reshape(shape)
    negatives = everyone - positives
    negatives_below = np.cumsum(negatives, axis=1) - negatives
    return (positives * (negatives_below + 0.5 * negatives)).sum(axis=1)


def resampled_classification_metrics(y_true: np.ndarray, p_pos: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Binary-classification metrics of many resamples at once (rows of ``idx``).

    Accuracy and balanced accuracy at threshold 0.5, ROC AUC (Mann-Whitney, ties
    averaged), log loss (probabilities clipped to [eps, 1 - eps]) and Brier score.
    Rows holding a single class get NaN for the metrics that need both.
    """
    y_image, p_image = np.asarray(y_true).astype(np.float64), np.asarray(p_pos).astype(np.float64)
    predicted = (p_image >= 0.5).astype(np.float64)
    clipped = np.clip(p_image, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    # each image's terms once, then summed over each resample's images (the same values, gathered)
    per_image = {
        "correct": predicted == y_image,
        "true_pos": predicted * y_image,
        "true_neg": (1 - predicted) * (1 - y_image),
        "log_loss": -(y_image * np.log(clipped) + (1 - y_image) * np.log(1 - clipped)),
        "brier": (p_image - y_image) ** 2,
    }
    n_pos = y_image[idx].sum(axis=1)
    n_neg = idx.shape[1] - n_pos
    both = (n_pos > 0) & (n_neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall_pos = per_image["true_pos"][idx].sum(axis=1) / n_pos
        recall_neg = per_image["true_neg"][idx].sum(axis=1) / n_neg
        auc = resampled_mann_whitney(y_true, p_pos, idx) / (n_pos * n_neg)
    return {
        "accuracy": per_image["correct"][idx].mean(axis=1),
        "balanced_accuracy": np.where(both, (recall_pos + recall_neg) / 2, np.nan),
        "roc_auc": np.where(both, auc, np.nan),
        "log_loss": per_image["log_loss"][idx].mean(axis=1),
        "brier": per_image["brier"][idx].mean(axis=1),
    }


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The bootstrap's resamples: ``n_boot`` rows of ``n`` indices drawn with replacement (seeded).
    Every model scored with the same ``seed`` is scored on the same resampled images."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap values (NaN ones ignored) at ``level``."""
    alpha = (1 - level) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def accuracy_interval(
    y_true: np.ndarray, p_pos: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Accuracy at threshold 0.5 and its 95% percentile interval over the resamples of
    :func:`resample_indices` (the value three times without resamples): the accuracy entries of
    :func:`poolkit.head.evaluate`, without the other four metrics' resamples."""
    y_true, p_pos = np.asarray(y_true), np.asarray(p_pos)
    value = float(((p_pos >= 0.5) == y_true).mean())
    if n_boot <= 0:
        return value, value, value
    idx = resample_indices(len(y_true), n_boot, seed)
    return value, *percentile_interval(((p_pos[idx] >= 0.5) == y_true[idx]).mean(axis=1), level)


def bootstrap_classification_ci(
    y_true: np.ndarray, p_pos: np.ndarray, idx: np.ndarray, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of every metric of :func:`resampled_classification_metrics`
    over the resamples ``idx`` (rows of :func:`resample_indices`; none: no intervals)."""
    if len(idx) == 0:
        return {}
    metrics = resampled_classification_metrics(y_true, p_pos, idx)
    return {name: percentile_interval(values, level) for name, values in metrics.items()}
