"""The head: cross-validated logistic regression and its metrics with intervals."""

import numpy as np
import pytest

from poolkit.head import evaluate, fit_with_cv, majority_baseline
from poolkit.io import WorkflowError
from poolkit.stats import bootstrap_mean_ci


def blobs(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    x = rng.normal(size=(2 * n, 20))
    x[:, 0] += shift * y
    return x, y


def test_cv_picks_from_grid_and_learns_a_separable_task():
    x, y = blobs(60, 3.0, 0)
    model, table = fit_with_cv(x, y, [0.01, 1.0], folds=3, seed=0, max_iter=500)
    assert set(table["C"]) == {0.01, 1.0} and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "C"].item() == model.named_steps["logreg"].C
    xv, yv = blobs(50, 3.0, 1)
    assert (model.predict(xv) == yv).mean() > 0.85


def test_cv_is_deterministic():
    x, y = blobs(40, 1.0, 2)
    a, _ = fit_with_cv(x, y, [0.1, 1.0], 3, 0, 500)
    b, _ = fit_with_cv(x, y, [0.1, 1.0], 3, 0, 500)
    assert np.array_equal(a.named_steps["logreg"].coef_, b.named_steps["logreg"].coef_)


def test_too_few_images_for_the_folds_is_a_clear_error():
    x, y = blobs(2, 1.0, 0)
    with pytest.raises(WorkflowError, match=r"head\.cv_folds is 5 .* lower head\.cv_folds"):
        fit_with_cv(x, y, [1.0], folds=5, seed=0, max_iter=100)


def test_metrics_and_intervals():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    p = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, size=200), 0.01, 0.99)
    metrics = evaluate(y, p, n_boot=200, seed=0)
    acc = metrics["accuracy"]
    assert acc["value"] == pytest.approx(((p >= 0.5) == y).mean())
    for name in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier"):
        m = metrics[name]
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
    assert np.sum(metrics["confusion_matrix"]["rows_true_cols_predicted"]) == 200
    assert evaluate(y, p, 200, 0) == metrics  # seeded


def test_majority_baseline_predicts_the_prior():
    p = majority_baseline(np.array([0, 0, 0, 1]), 5)
    assert np.allclose(p, 0.25)


def test_bootstrap_mean_ci_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean_ci(rng.random(20), np.random.default_rng(1), 500)
    large = bootstrap_mean_ci(rng.random(2000), np.random.default_rng(1), 500)
    assert small[1] <= small[0] <= small[2]
    assert (large[2] - large[1]) < (small[2] - small[1])
    assert bootstrap_mean_ci(np.array([1.0, 1.0]), np.random.default_rng(0), 100) == (1.0, 1.0, 1.0)


def test_bootstrap_of_zero_one_values_matches_resampling_indices():
    """The binomial shortcut for 0/1 values draws the same distribution as resampled indices."""
    values = (np.random.default_rng(0).random(200) < 0.3).astype(float)
    fast = bootstrap_mean_ci(values, np.random.default_rng(1), 20_000)
    slow = bootstrap_mean_ci(values + 1e-12 * np.arange(200), np.random.default_rng(1), 20_000)  # not 0/1: index path
    assert fast[0] == pytest.approx(slow[0]) and fast[0] == values.mean()
    assert fast[1] == pytest.approx(slow[1], abs=0.011) and fast[2] == pytest.approx(slow[2], abs=0.011)
    assert fast[1] < values.mean() < fast[2]
    # the normal-approximation half-width, 1.96·sqrt(p(1-p)/n), for scale
    half = 1.96 * np.sqrt(values.mean() * (1 - values.mean()) / 200)
    assert (fast[2] - fast[1]) / 2 == pytest.approx(half, rel=0.1)


def test_vectorised_resample_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, log_loss, roc_auc_score

    from poolkit.stats import resampled_classification_metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=60)
    p = np.round(rng.random(60), 2)  # rounding makes ties, which AUC must average
    p[:3] = [0.0, 1.0, 0.5]
    idx = rng.integers(0, 60, size=(5, 60))
    ours = resampled_classification_metrics(y, p, idx)
    for row in range(5):
        yb, pb = y[idx[row]], p[idx[row]]
        assert ours["accuracy"][row] == pytest.approx(accuracy_score(yb, pb >= 0.5))
        assert ours["balanced_accuracy"][row] == pytest.approx(balanced_accuracy_score(yb, pb >= 0.5))
        assert ours["roc_auc"][row] == pytest.approx(roc_auc_score(yb, pb))
        assert ours["log_loss"][row] == pytest.approx(log_loss(yb, pb, labels=[0, 1]))
        assert ours["brier"][row] == pytest.approx(brier_score_loss(yb, pb))
    single = resampled_classification_metrics(np.array([1, 1, 1]), np.array([0.2, 0.7, 0.9]), np.array([[0, 1, 2]]))
    assert np.isnan(single["roc_auc"][0]) and single["accuracy"][0] == pytest.approx(2 / 3)
