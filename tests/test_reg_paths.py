"""Batched regularisation paths: each fit meets scikit-learn's stopping test in its own split's scaling,
the scaling is each split's StandardScaler, the preconditioner inverts its curvature model, and the
bits do not depend on threads or blocks."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from poolkit import reg_paths
from poolkit.head import cv_splits
from poolkit.stats import binary_log_loss

GRID = [0.001, 0.1, 10.0]


def problem(n: int = 150, d: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features of unequal scales and offsets, labels from a few of them, float32."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.2, 4.0, size=d) + rng.uniform(-3, 3, size=d)
    x[:, 1:] += 0.7 * x[:, :1]
    y = (x[:, :3] @ np.array([1.0, -0.5, 0.3]) + rng.logistic(size=n) > x[:, :3].mean() * 0.8).astype(int)
    return x.astype(np.float32), y


def solved(x: np.ndarray, y: np.ndarray, tol: float = 1e-6, threads: int = 1, max_iter: int = 2000):
    splits = cv_splits(y, 3, 2, 0)
    scaler = StandardScaler().fit(x)
    problems = reg_paths.split_problems(x, y, splits, (scaler.mean_, scaler.scale_))
    return splits, problems, reg_paths.solve(problems, GRID, max_iter=max_iter, tol=tol, threads=threads)


def gradient_in_float64(x, y, rows, mean, scale, c, theta) -> np.ndarray:
    """scikit-learn's scaled objective's gradient, computed plainly in float64."""
    xs = (x[rows].astype(np.float64) - mean) / scale
    r = (1 / (1 + np.exp(-(xs @ theta[:-1] + theta[-1]))) - y[rows]) / len(rows)
    return np.r_[xs.T @ r + theta[:-1] / (c * len(rows)), r.sum()]


@pytest.mark.parametrize("d", [30, 200])  # 200 > n: nearly separable at C = 10
def test_every_fit_meets_the_gradient_test_in_its_own_scaling(d):
    x, y = problem(d=d)
    splits, _, result = solved(x, y, tol=1e-4)
    scaler = StandardScaler().fit(x)
    scalings = [StandardScaler().fit(x[fit_rows]) for fit_rows, _ in splits] + [scaler]
    rows = [fit_rows for fit_rows, _ in splits] + [np.arange(len(y))]
    for p, (scaling, fit_rows) in enumerate(zip(scalings, rows, strict=True)):
        for k, c in enumerate(GRID):
            theta = result.coefs[p, k]
            gradient = gradient_in_float64(x, y, fit_rows, scaling.mean_, scaling.scale_, c, theta)
            bound = min(1e-4, reg_paths.COEF_TOL / (c * len(fit_rows)))  # the test's: min(tol, coef_tol · l2)
            assert np.abs(gradient).max() < 1.5 * bound, (p, c)  # met with float32 products
            if p < len(splits):
                held = splits[p][1]
                xs = (x[held].astype(np.float64) - scaling.mean_) / scaling.scale_
                expected = binary_log_loss(y[held], 1 / (1 + np.exp(-(xs @ theta[:-1] + theta[-1]))))
                assert result.losses[p, k] == pytest.approx(expected, rel=1e-5)
    assert np.isnan(result.losses[-1]).all() and result.converged.all()


def test_each_split_is_scaled_by_its_training_rows_and_a_sparse_column_is_constant_there():
    x, y = problem()
    splits = cv_splits(y, 3, 1, 0)
    held = splits[0][1]
    x[:, 4] = 0.0
    x[held[:2], 4] = [5.0, 1e-3]  # nonzero only on held-out rows of split 0
    problems = reg_paths.split_problems(x, y, splits, (np.zeros(x.shape[1]), np.ones(x.shape[1])))
    centre = x.mean(axis=0, dtype=np.float64)
    for p, (fit_rows, _) in enumerate(splits):
        scaler = StandardScaler().fit(x[fit_rows])
        assert problems.shift[p] + centre == pytest.approx(scaler.mean_, rel=1e-9, abs=1e-12)
        assert problems.scale[p] == pytest.approx(scaler.scale_, rel=1e-9)
        assert problems.train[p].sum() == len(fit_rows) and not problems.train[p, splits[p][1]].any()
    assert problems.scale[0, 4] == 1.0 and problems.scale[1, 4] != 1.0
    assert problems.train[-1].all() and (problems.scale[-1] == 1).all()


@pytest.mark.parametrize("uniform", [True, False])  # the Hessian at w = 0, and at a point with unequal weights
def test_the_preconditioner_inverts_the_curvature_model(monkeypatch, uniform):
    x, y = problem(d=40)
    mean, sd = x.mean(axis=0, dtype=np.float64), x.std(axis=0, dtype=np.float64)
    problems = reg_paths.split_problems(x, y, cv_splits(y, 3, 1, 0), (mean, sd))
    rng = np.random.default_rng(1)
    weights = (np.full(len(x), 0.25) if uniform else rng.uniform(1e-4, 0.25, len(x))) / len(x)
    xs = (x - mean) / sd
    sigma = xs.T @ (weights[:, None] * xs)
    l2 = np.array([1e-3, 1.0])
    q = rng.normal(size=(2, 41))
    intercept = [np.zeros((1, 40)), np.full((1, 1), weights.sum())]
    curvature = [np.block([[sigma + penalty * np.eye(40), intercept[0].T], intercept]) for penalty in l2]
    with reg_paths.ThreadPoolExecutor(1) as pool:
        products = reg_paths._Products(problems.x, pool)
        exact = reg_paths._preconditioner(products, problems.shift[-1], problems.scale[-1], weights)
        monkeypatch.setattr(reg_paths, "FULL_PRECONDITIONER", 10)
        monkeypatch.setattr(reg_paths, "PRECONDITIONER_RANK", 39)  # all but one pair: the rest is the last eigenvalue
        lowrank = reg_paths._preconditioner(products, problems.shift[-1], problems.scale[-1], weights)
    for apply in (exact, lowrank):
        back = np.array([curvature[i] @ row for i, row in enumerate(apply(q, l2))])
        # Σ_D comes from float32 products whose rounding depends on the CPU's kernels: compare the
        # residual of each right-hand side in norm, not entry by entry.
        residual = np.linalg.norm(back - q, axis=1) / np.linalg.norm(q, axis=1)
        assert residual.max() < 5e-5, residual  # float32: about 1e-5 at most seen


def test_the_bits_do_not_depend_on_threads_or_on_other_problems_finishing(monkeypatch):
    monkeypatch.setattr(reg_paths, "BLOCKS", 5)  # blocks of 30 rows and 10 columns
    x, y = problem(d=50)
    results = [solved(x, y, tol=1e-4, threads=threads)[2] for threads in (1, 3)]
    for name in ("losses", "coefs", "iterations", "evaluations"):
        assert np.array_equal(getattr(results[0], name), getattr(results[1], name), equal_nan=True), name
    assert len(set(results[0].evaluations)) > 1  # the problems finished at different steps


def test_a_fit_stopped_by_max_iter_is_not_converged_and_is_reported(caplog):
    from poolkit.head import fit_with_cv

    x, y = problem(d=60)
    _, _, result = solved(x, y, tol=1e-8, max_iter=3)
    assert (result.iterations <= 3).all() and not result.converged.all()
    assert (~result.converged[result.iterations < 3]).sum() == 0  # fewer steps: the test was met
    with pytest.warns(ConvergenceWarning):  # scikit-learn's final fit, also held to 3 iterations
        fit_with_cv(x, y, GRID, cv_splits(y, 3, 1, 0), max_iter=3, tol=1e-8)
    assert "12 of 12 fits stopped before the gradient test (tol 1e-08" in caplog.text


def test_the_batch_finds_each_problem_s_own_optimum():
    """Solved with the others or alone, each split reaches the same optimum (within the tolerance):
    no problem starts from, or steps with, another's solution. (A warm start from another split's
    solution would leak its held-out rows: the CV loss at large C would fall.)"""
    x, y = problem(d=30)
    _, problems, together = solved(x, y, tol=1e-6)
    for p in (0, 3):
        alone = reg_paths.Problems(
            problems.x, problems.y, problems.train[[p]], problems.shift[[p]], problems.scale[[p]]
        )
        single = reg_paths.solve(alone, GRID, max_iter=2000, tol=1e-6)
        assert single.losses[0] == pytest.approx(together.losses[p], rel=1e-3)
        assert single.coefs[0] == pytest.approx(together.coefs[p], abs=2e-3)
