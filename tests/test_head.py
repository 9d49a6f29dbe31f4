"""The head: cross-validated logistic regression and its metrics with intervals."""

import numpy as np
import pytest

from poolkit.head import evaluate, fit_with_cv, global_max_scores, majority_baseline, paired_differences
from poolkit.io import UserError


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
    with pytest.raises(UserError, match=r"head\.cv_folds is 5 .* lower head\.cv_folds"):
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


def test_paired_differences_use_the_same_resamples_for_both_models():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, size=200), 0.01, 0.99)
    table = paired_differences(y, {"a": good, "b": good, "c": np.full(200, 0.5)}, [("a", "b"), ("a", "c")], 500, 0)
    same = table[table["comparison"] == "a - b"]
    assert (same[["difference", "ci_low", "ci_high"]].to_numpy() == 0).all()  # paired: identical models differ by 0
    acc = table[(table["comparison"] == "a - c") & (table["metric"] == "accuracy")].iloc[0]
    assert acc["difference"] == pytest.approx(evaluate(y, good, 0, 0)["accuracy"]["value"] - 0.5)
    assert acc["ci_low"] > 0 and acc["ci_low"] < acc["difference"] < acc["ci_high"]


def test_global_max_scores_take_the_largest_value_of_each_channel():
    maps = np.random.default_rng(1).random((3, 4, 4, 8)).astype(np.float32)
    assert np.array_equal(global_max_scores(maps.reshape(3, -1), (4, 4, 8)), maps.max(axis=(1, 2)))


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
