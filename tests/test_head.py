"""The head: cross-validated logistic regression and its metrics with intervals."""

import argparse
import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from poolkit.cli import schema_node
from poolkit.head import (
    HeadSettings,
    c_at_edge,
    choose_c,
    cv_splits,
    cv_summary,
    evaluate,
    fit_with_cv,
    global_max_scores,
    majority_baseline,
    make_pipeline,
    paired_differences,
)
from poolkit.io import UserError


def blobs(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    x = rng.normal(size=(2 * n, 20))
    x[:, 0] += shift * y
    return x, y


def fit(x, y, grid, folds=3, repeats=1, seed=0, **kwargs):
    return fit_with_cv(x, y, grid, cv_splits(y, folds, repeats, seed), max_iter=500, **kwargs)


def test_cv_picks_from_grid_and_learns_a_separable_task():
    x, y = blobs(60, 3.0, 0)
    model, table = fit(x, y, [0.01, 1.0])
    assert set(table["C"]) == {0.01, 1.0} and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "C"].item() == model.named_steps["logreg"].C
    xv, yv = blobs(50, 3.0, 1)
    assert (model.predict(xv) == yv).mean() > 0.85


def test_cv_is_deterministic():
    x, y = blobs(40, 1.0, 2)
    a, _ = fit(x, y, [0.1, 1.0], repeats=2)
    b, _ = fit(x, y, [0.1, 1.0], repeats=2)
    assert np.array_equal(a.named_steps["logreg"].coef_, b.named_steps["logreg"].coef_)


def test_too_few_images_for_the_folds_is_a_clear_error():
    _, y = blobs(2, 1.0, 0)
    with pytest.raises(UserError, match=r"head\.cv_folds is 5 .* lower head\.cv_folds"):
        cv_splits(y, folds=5, repeats=1, seed=0)


def test_one_se_rule_takes_the_smallest_c_within_one_standard_error_of_the_best():
    # hand-made: lowest mean at C=1 (0.40, SE 0.03); C=0.1 (0.42) is within it, C=0.01 (0.45) is not
    table = pd.DataFrame(
        {
            "C": [10.0, 1.0, 0.1, 0.01],
            "cv_log_loss": [0.43, 0.40, 0.42, 0.45],
            "cv_log_loss_se": [0.05, 0.03, 0.01, 0.01],
        }
    )
    assert choose_c(table, "min") == 1.0
    assert choose_c(table, "one_se") == 0.1  # the best's SE counts, not each C's own
    with pytest.raises(UserError, match=r"head\.c_rule"):
        choose_c(table, "median")


def test_cv_summary_of_repeated_folds():
    # 2 repeats x 2 folds = 4 splits (rows) for 3 values of C (columns)
    losses = np.array([[0.50, 0.30, 0.36], [0.52, 0.34, 0.34], [0.48, 0.32, 0.35], [0.50, 0.36, 0.35]])
    table = cv_summary([0.01, 0.1, 1.0], losses, rule="one_se")
    assert table["cv_log_loss"].tolist() == pytest.approx([0.50, 0.33, 0.35])
    se = losses[:, 1].std(ddof=1) / np.sqrt(4)  # SD over the 4 splits / sqrt(4 splits)
    assert table["cv_log_loss_se"].iloc[1] == pytest.approx(se)
    assert table["cv_log_loss_sd"].iloc[1] == pytest.approx(losses[:, 1].std())
    assert table.loc[table["lowest_mean"], "C"].item() == 0.1
    assert table.loc[table["chosen"], "C"].item() == 0.1  # 0.01 is far outside; 0.1 itself is the smallest within
    assert not table["c_at_edge"].any()
    edge = cv_summary([0.01, 0.1, 1.0], losses[:, [0, 2, 1]], rule="min")  # lowest mean at C=1
    assert edge.loc[edge["chosen"], "C"].item() == 1.0 and edge["c_at_edge"].all()


def test_one_se_rule_takes_its_standard_error_over_every_split_not_per_fold():
    """Issue 31: 2 folds x 2 repeats. The best, C=1, has mean 0.40 and SD 0.0462 over the 4 splits;
    C=0.1 (0.428) is within SD / sqrt(2 folds) = 0.033 of it, but not within SD / sqrt(4 splits) =
    0.023: the per-fold rule took 0.1, the rule over every split keeps 1."""
    losses = np.array([[0.60, 0.430, 0.36], [0.60, 0.426, 0.44], [0.60, 0.428, 0.36], [0.60, 0.428, 0.44]])
    sd = losses[:, 2].std(ddof=1)
    assert 0.40 + sd / np.sqrt(4) < 0.428 < 0.40 + sd / np.sqrt(2)  # the case is the one described
    table = cv_summary([0.01, 0.1, 1.0], losses, rule="one_se")
    assert table["cv_log_loss_se"].iloc[2] == pytest.approx(sd / 2)
    assert table.loc[table["chosen"], "C"].item() == 1.0


def test_c_at_the_edge_of_the_grid_is_flagged():
    assert c_at_edge([0.01, 0.1, 1.0], 0.01) and c_at_edge([0.01, 0.1, 1.0], 1.0)
    assert not c_at_edge([0.01, 0.1, 1.0], 0.1)
    assert not c_at_edge([1.0], 1.0)  # a one-value grid chooses nothing


def test_edge_choice_is_logged_as_a_warning(caplog):
    from poolkit.head import HeadSettings, fit_heads

    x, y = blobs(30, 3.0, 0)
    images = pd.DataFrame({"split": ["train"] * 40 + ["valid"] * 20, "label": np.r_[y[::3], y[1::3], y[2::3]]})
    order = np.r_[np.arange(0, 60, 3), np.arange(1, 60, 3), np.arange(2, 60, 3)]
    settings = HeadSettings(c_grid=[1e-6, 1e-5], cv_folds=3, cv_repeats=2, c_rule="min", max_iter=200, n_boot=0, seed=0)
    fits = fit_heads(images, {"gap": x[order]}, settings)  # separable: the largest C wins, at the edge
    assert fits["gap"].c_at_edge and fits["gap"].chosen_c == 1e-5
    assert "head gap: the chosen C=1e-05 is at the edge of head.c_grid" in caplog.text


def test_fold_seeds_record_the_rules_choice_under_each_seed_and_leave_the_model_alone(caplog):
    """Issue 31: ``c_seeds`` reruns the rule on the folds of seeds seed + 1, ...; each choice is the one
    fit_with_cv makes on that seed's folds, and the run's model and CV table are those of its seed."""
    from poolkit.head import HeadResults, HeadSettings, fit_heads, format_wins, heads_table

    caplog.set_level(logging.INFO, logger="poolkit.head")
    x, y = blobs(30, 0.8, 1)  # a case whose one-SE choice moves with the seed
    images = pd.DataFrame({"split": ["train"] * 40 + ["valid"] * 20, "label": np.r_[y[::3], y[1::3], y[2::3]]})
    x = x[np.r_[np.arange(0, 60, 3), np.arange(1, 60, 3), np.arange(2, 60, 3)]]
    grid = [0.01, 0.1, 1.0]
    settings = HeadSettings(c_grid=grid, cv_folds=3, cv_repeats=2, c_rule="one_se", max_iter=200, n_boot=0, seed=5)
    fits = fit_heads(images, {"gap": x}, settings, c_seeds=4)
    fit, alone = fits["gap"], fit_heads(images, {"gap": x}, settings)["gap"]
    assert alone.seed_choices == (alone.chosen_c,) and alone.c_agreement == 1.0
    assert np.array_equal(fit.p_valid, alone.p_valid) and fit.cv.equals(alone.cv)
    y_train = images["label"].to_numpy()[:40]
    each = [fit_with_cv(x[:40], y_train, grid, cv_splits(y_train, 3, 2, seed), max_iter=200)[1] for seed in range(5, 9)]
    assert fit.seed_choices == tuple(t.loc[t["chosen"], "C"].item() for t in each)
    assert fit.seed_choices[0] == fit.chosen_c and len(set(fit.seed_choices)) > 1
    wins = format_wins(fit.c_wins)
    assert sum(int(pair.split(":")[1]) for pair in wins.split(";")) == 4
    assert fit.c_agreement == fit.seed_choices.count(fit.chosen_c) / 4
    assert f"head gap: the rule's C depends on the fold seed (seeds 5 to 8: {wins})" in caplog.text
    evaluated = {name: evaluate(images["label"].to_numpy()[40:], f.p_valid, 0, 0) for name, f in fits.items()}
    table = heads_table(HeadResults(images, fits, evaluated, pd.DataFrame())).set_index("model")
    assert table.loc["gap", "c_wins"] == wins and table.loc["gap", "c_agreement"] == fit.c_agreement
    assert table.loc["majority", "c_wins"] == "" and np.isnan(table.loc["majority", "c_agreement"])


def test_c_wins_are_counted_and_written_in_increasing_c():
    from poolkit.head import c_wins, format_wins

    assert c_wins([0.01, 0.001, 0.01, 0.01, 0.001]) == {0.001: 2, 0.01: 3}
    assert format_wins(c_wins([0.01, 0.001, 0.01, 0.01, 0.001])) == "0.001:2;0.01:3"
    assert format_wins(c_wins([1e-05])) == "1e-05:1" and format_wins({}) == ""


def _regression_problem(n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal in a few of ``d`` features, noise features of unequal scales, and validation rows."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.uniform(-2, 2, size=d)
    y = (x[:, :5] @ rng.normal(size=5) + rng.logistic(size=n) * 3 > 0).astype(int)
    return x, y, x[:100] + rng.normal(0, 0.1, size=(100, d))


def test_heads_whose_matrix_is_still_being_read_are_fitted_last_and_listed_in_order(caplog):
    from poolkit.head import HeadSettings, fit_heads

    x, y = blobs(30, 2.0, 0)
    images = pd.DataFrame({"split": ["train"] * 40 + ["valid"] * 20, "label": np.r_[y[::3], y[1::3], y[2::3]]})
    order = np.r_[np.arange(0, 60, 3), np.arange(1, 60, 3), np.arange(2, 60, 3)]
    fitted = []

    def later() -> np.ndarray:
        fitted.append("read")
        return x[order][:, :5]

    settings = HeadSettings(c_grid=[0.1, 1.0], cv_folds=3, cv_repeats=1, c_rule="min", max_iter=200, n_boot=0, seed=0)
    fits = fit_heads(images, {"late": later, "gap": x[order]}, settings)
    assert list(fits) == ["late", "gap", "majority"] and fitted == ["read"]
    assert caplog.text.index("head gap:") < caplog.text.index("head late:")  # the matrix at hand first
    assert fits["late"].n_features == 5 and fits["gap"].n_features == 20
    alone = fit_heads(images, {"late": x[order][:, :5]}, settings)["late"]
    assert np.array_equal(alone.p_valid, fits["late"].p_valid)


@pytest.mark.parametrize("tol, p_tolerance, d", [(1e-4, 2e-3, 60), (1e-8, 1e-4, 60), (1e-8, 5e-4, 400)])
def test_fast_path_equals_grid_search_over_the_same_folds(tol, p_tolerance, d):
    """The batched, scale-once, float32 paths choose the C that GridSearchCV over a scaler + logistic-
    regression pipeline chooses on the same splits, with nearly the same CV log loss and validation
    probabilities: within 2e-3 at the product's tol, 1e-4 when both solve tightly (what remains is the
    float32 input; 5e-4 with d > n, the Flatten head's case, where the large weights at C = 10 keep
    float32 products from a gradient of 1e-8: a few fits stop when the objective stalls)."""
    x, y, xv = _regression_problem(240, d)
    grid = [0.001, 0.01, 0.1, 1.0, 10.0]
    splits = cv_splits(y, 5, 3, 0)
    reference = GridSearchCV(make_pipeline(5000, tol), {"logreg__C": grid}, scoring="neg_log_loss", cv=splits)
    reference.fit(x, y)
    model, table = fit_with_cv(x.astype(np.float32), y, grid, splits, max_iter=5000, rule="min", tol=tol)
    assert reference.best_params_["logreg__C"] == model.named_steps["logreg"].C
    assert table["cv_log_loss"].to_numpy() == pytest.approx(-reference.cv_results_["mean_test_score"], abs=p_tolerance)
    assert np.abs(model.predict_proba(xv)[:, 1] - reference.predict_proba(xv)[:, 1]).max() < p_tolerance


@pytest.mark.parametrize("d", [60, 400])  # 400 > n: nearly separable at large C, the Flatten head's case
def test_the_whole_cv_table_is_a_converged_fit_s(d):
    """Every C's CV log loss is that of scikit-learn solved tightly (tol 1e-10) on the same splits,
    within 1e-3, the large C included: where the loss is nearly flat a gradient test on ``tol`` alone
    stopped the paths 3.5 % below the optimum's CV loss, and scikit-learn at ``tol`` 1e-4 1.0 % above.
    No fit is left unconverged."""
    x, y, _ = _regression_problem(240, d)
    grid = [0.001, 0.01, 0.1, 1.0, 10.0]
    splits = cv_splits(y, 5, 3, 0)
    tight = GridSearchCV(make_pipeline(100000, 1e-10), {"logreg__C": grid}, scoring="neg_log_loss", cv=splits)
    optimum = -tight.fit(x, y).cv_results_["mean_test_score"]
    model, table = fit_with_cv(x.astype(np.float32), y, grid, splits, max_iter=5000, rule="min", tol=1e-4)
    assert grid[np.argmin(optimum)] == model.named_steps["logreg"].C
    assert table["cv_log_loss"].to_numpy() == pytest.approx(optimum, abs=1e-3)
    assert (table["unconverged"] == 0).all()


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


def test_metrics_from_resamples_computed_once_are_the_same():
    from poolkit.stats import resample_indices, resampled_classification_metrics

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = {"a": rng.random(150), "b": np.clip(y + rng.normal(0, 0.4, 150), 0, 1)}
    idx = resample_indices(150, 300, 7)
    boot = {name: resampled_classification_metrics(y, values, idx) for name, values in p.items()}
    for name, values in p.items():
        assert evaluate(y, values, 300, 7, boot[name]) == evaluate(y, values, 300, 7)
    pairs = [("a", "b"), ("b", "a")]
    assert paired_differences(y, p, pairs, 300, 7, boot).equals(paired_differences(y, p, pairs, 300, 7))
    assert not paired_differences(y, p, pairs, 300, 8).equals(paired_differences(y, p, pairs, 300, 7))


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


def test_log_loss_without_checks_is_scikit_learns_to_the_bit():
    from sklearn.metrics import log_loss

    from poolkit.stats import binary_log_loss

    rng = np.random.default_rng(5)
    for n in (1, 17, 4001):
        y = rng.integers(0, 2, n)
        p = rng.random(n)
        p[: min(n, 3)] = [0.0, 1.0, 1e-300][: min(n, 3)]  # clipped at both ends
        assert binary_log_loss(y, p) == log_loss(y, p, labels=[0, 1])


def test_cv_results_do_not_depend_on_the_number_of_threads():
    x, y = blobs(50, 1.0, 4)
    runs = [fit(x.astype(np.float32), y, [0.01, 0.1, 1.0], repeats=3, threads=threads) for threads in (1, 2, 5)]
    for model, table in runs[1:]:
        assert table.equals(runs[0][1])
        assert np.array_equal(model.named_steps["logreg"].coef_, runs[0][0].named_steps["logreg"].coef_)


def test_mann_whitney_counts_equal_the_rank_formula_to_the_bit():
    from scipy.stats import rankdata

    from poolkit.stats import resample_indices, resampled_mann_whitney

    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 2)  # many ties
    idx = resample_indices(300, 200, 0)
    yb = y[idx].astype(np.float64)
    n_pos = yb.sum(axis=1)
    ranked = (rankdata(p[idx], axis=1) * yb).sum(axis=1) - n_pos * (n_pos + 1) / 2
    assert np.array_equal(resampled_mann_whitney(y, p, idx), ranked)


@pytest.mark.parametrize("n_boot", [0, 1, 300])
def test_accuracy_interval_is_evaluates_accuracy(n_boot):
    from poolkit.stats import accuracy_interval

    rng = np.random.default_rng(n_boot)
    y, p = rng.integers(0, 2, 80), np.round(rng.random(80), 1)  # p = 0.5 exactly on some images
    full = evaluate(y, p, n_boot, seed=3)["accuracy"]
    assert accuracy_interval(y, p, n_boot, seed=3) == (full["value"], full["ci_low"], full["ci_high"])


def test_head_settings_are_the_config_head_section_and_threads() -> None:
    """Every setting but ``threads`` is a ``head`` key with the schema's default; given flags win."""
    from poolkit.cli import add_settings_options, settings_from_args

    parser = argparse.ArgumentParser()
    add_settings_options(parser, HeadSettings)
    settings = settings_from_args(HeadSettings, parser.parse_args(["--seed", "7", "--c-grid", "0.5", "2"]), threads=3)
    assert settings.seed == 7 and settings.c_grid == [0.5, 2.0] and settings.threads == 3
    for key in ("cv_folds", "cv_repeats", "c_rule", "max_iter", "n_boot"):
        assert getattr(settings, key) == schema_node(f"head.{key}")["default"], key
    assert HeadSettings.given_fields() == ["threads"]
    assert list(HeadSettings.config_keys()) == [
        "c_grid",
        "cv_folds",
        "cv_repeats",
        "c_rule",
        "max_iter",
        "n_boot",
        "seed",
    ]


def test_every_head_gets_its_matrix_from_the_registry_and_the_maps_are_read_once() -> None:
    """head_matrices: one matrix per head of HEADS, in its order; the map heads' wait for the maps."""
    from poolkit.head import HEADS, head_matrices

    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((4, 512), dtype=np.float32), columns=[f"f{i:03d}" for i in range(512)])
    pixels = pd.DataFrame(rng.random((4, 3), dtype=np.float32), columns=["p0000", "p0001", "p0002"])
    maps = rng.random((4, 2 * 2 * 512), dtype=np.float32)
    reads = []

    def read_maps() -> np.ndarray:
        reads.append(1)
        return maps

    matrices = head_matrices(features, pixels, read_maps, [2, 2, 512])
    assert list(matrices) == list(HEADS) and not reads
    resolved = {name: m() if callable(m) else m for name, m in matrices.items()}
    assert len(reads) == 1 and {name for name, m in matrices.items() if callable(m)} == {"gmp", "flatten"}
    assert np.array_equal(resolved["gap"], features.to_numpy()) and np.array_equal(
        resolved["pixels"], pixels.to_numpy()
    )
    assert np.array_equal(resolved["flatten"], maps)
    assert np.array_equal(resolved["gmp"], maps.reshape(4, 4, 512).max(axis=1))
