"""Shift consistency of the whole network (VGG16 base variant + GAP + a refitted head), under the
two protocols of :mod:`poolkit.protocols` (whose pair plan is the same for every variant), with
intervals that take images, not pairs, as the sampling units."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .head import HeadFit, HeadSettings, fit_heads
from .io import UserError, feature_columns
from .stats import accuracy_interval, clustered_mean_interval, clustered_share_interval


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two score matrices (1 where both rows are zero)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    return np.divide(dots, norms, out=np.ones_like(dots), where=norms > 0)


def per_image_sums(values: pd.Series, image_id: pd.Series | pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Each image's number of rows and sum of ``values`` (images sorted): the clusters of an interval."""
    codes, _ = pd.factorize(pd.Series(np.asarray(image_id)), sort=True)
    return np.bincount(codes), np.bincount(codes, weights=np.asarray(values, dtype=np.float64))


def consistency_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per variant, protocol and max shift: the share of pairs with the same predicted class (95%
    Korn–Graubard interval over images, whose passes are not independent), the same share without the pairs
    whose copies are identical by construction, their count, and the mean cosine of the GAP scores."""
    keys = ["variant", "protocol", "max_shift", "offset_max"]
    rows = []
    for key, group in pairs.groupby(keys, sort=False):
        shifted = group[~group["same_offset"]]
        counts, same = per_image_sums(group["same_class"], group["image_id"])
        share, low, high = (float(v[0]) for v in clustered_share_interval(counts, same[:, None]))
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_images": group["image_id"].nunique(),
                "n_pairs": len(group),
                "n_same_offset": int(group["same_offset"].sum()),
                "consistency": share,
                "consistency_lo": low,
                "consistency_hi": high,
                "consistency_shifted": float(shifted["same_class"].mean()) if len(shifted) else float("nan"),
                "cosine": float(group["cosine"].mean()),
            }
        )
    return pd.DataFrame(rows)


def refit_gap_head(features: pd.DataFrame, settings: HeadSettings) -> HeadFit:
    """A variant's GAP head, fitted exactly as the head stage fits its GAP head (same folds, grid, rule)."""
    matrix = features[feature_columns()].to_numpy(np.float32)
    return fit_heads(features[["image_id", "split", "label"]], {"gap": matrix}, settings)["gap"]


def p_truck(model: Any, scores: pd.DataFrame) -> np.ndarray:
    """P(truck) of the rows of a score table."""
    with threadpool_limits(1):
        return model.predict_proba(scores[feature_columns()].to_numpy(np.float32))[:, 1]


def pairs_table(copies: pd.DataFrame, model: Any) -> pd.DataFrame:
    """One row per pair: its plan, both copies' P(truck), same class, |Δp| and the scores' cosine."""
    a, b = copies[copies["copy"] == "a"].reset_index(drop=True), copies[copies["copy"] == "b"].reset_index(drop=True)
    keys = ["variant", "image_id", "label", "protocol", "max_shift", "offset_max", "pass"]
    if not a[keys].equals(b[keys]):
        raise UserError("variant copies: copies a and b are not paired row by row")
    pairs = a[[*keys, "a_y", "a_x", "b_y", "b_x", "dy", "dx", "same_offset"]].copy()
    pairs["p_truck_a"], pairs["p_truck_b"] = p_truck(model, a), p_truck(model, b)
    pairs["same_class"] = (pairs["p_truck_a"] >= 0.5) == (pairs["p_truck_b"] >= 0.5)
    pairs["abs_dp"] = (pairs["p_truck_a"] - pairs["p_truck_b"]).abs()
    pairs["cosine"] = cosine(a[feature_columns()].to_numpy(), b[feature_columns()].to_numpy())
    return pairs


def head_row(variant: str, features: pd.DataFrame, centre: pd.DataFrame, fit: HeadFit, n_boot: int, seed: int) -> dict:
    """A variant's head: C, validation accuracy (interval resampling images), and on the sampled
    images the accuracy at the feature stage's size against that of their centre crops."""
    valid = features[features["split"] == "valid"].reset_index(drop=True)
    accuracy, accuracy_lo, accuracy_hi = accuracy_interval(valid["label"].to_numpy(int), fit.p_valid, n_boot, seed)
    position = pd.Index(valid["image_id"]).get_indexer(centre["image_id"])
    if (position < 0).any():
        raise UserError("variant copies: the sampled images are not all in the validation split of the features")
    y_sample, p_sample = centre["label"].to_numpy(int), fit.p_valid[position]
    centre_acc, centre_lo, centre_hi = accuracy_interval(y_sample, p_truck(fit.model, centre), n_boot, seed)
    return {
        "variant": variant,
        "chosen_C": fit.chosen_c,
        "c_at_edge": fit.c_at_edge,
        "n_valid": len(valid),
        "accuracy": accuracy,
        "accuracy_lo": accuracy_lo,
        "accuracy_hi": accuracy_hi,
        "n_sample": len(centre),
        "sample_accuracy": float(((p_sample >= 0.5) == y_sample).mean()),
        "centre_accuracy": centre_acc,
        "centre_accuracy_lo": centre_lo,
        "centre_accuracy_hi": centre_hi,
    }


def consistency_differences(pairs: pd.DataFrame, baseline: str = "max") -> pd.DataFrame:
    """Per variant other than ``baseline``, protocol and max shift: its consistency minus the baseline's
    on the very same pairs, with a 95% paired t interval over images (each image's pair differences
    one cluster, :func:`poolkit.stats.clustered_mean_interval`). Empty without the baseline."""
    keys = ["protocol", "max_shift"]
    columns = ["variant", *keys, "difference", "difference_lo", "difference_hi"]
    if baseline not in set(pairs["variant"]):
        return pd.DataFrame(columns=columns)
    base = pairs[pairs["variant"] == baseline].set_index([*keys, "image_id", "pass"])["same_class"]
    rows = []
    for (variant, protocol, max_shift), group in pairs[pairs["variant"] != baseline].groupby(
        ["variant", *keys], sort=False
    ):
        mine = group.set_index([*keys, "image_id", "pass"])["same_class"]
        delta = mine.astype(float) - base.loc[mine.index].astype(float)
        counts, sums = per_image_sums(delta, delta.index.get_level_values("image_id"))
        difference, low, high = (float(v[0]) for v in clustered_mean_interval(counts, sums[:, None]))
        rows.append(
            {"variant": variant, "protocol": protocol, "max_shift": max_shift}
            | {"difference": difference, "difference_lo": low, "difference_hi": high}
        )
    return pd.DataFrame(rows, columns=columns)  # only the baseline run: the header alone
