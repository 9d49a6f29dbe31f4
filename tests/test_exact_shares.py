"""Exact shares from the exhaustive shift grid under the course's shift distribution."""

from fractions import Fraction

import numpy as np
import pytest

from poolkit.invariance import (
    course_shift_probabilities,
    exact_grid_shares,
    exact_shares,
    grid_outcome,
    grid_shifts,
    run_shard,
)
from tests.helpers import ring_trial_settings


def test_course_probabilities_are_1_12_and_1_6_for_jitter_3_and_sum_to_one():
    shifts, p = course_shift_probabilities(3)
    assert list(shifts) == [-3, -2, -1, 0, 1, 2, 3]
    np.testing.assert_allclose(p, [1 / 12, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 12], rtol=1e-15)
    for jitter in range(0, 9):
        shifts, p = course_shift_probabilities(jitter)
        assert len(p) == 2 * jitter + 1 and p.sum() == pytest.approx(1.0, abs=1e-15) and (p > 0).all()
    np.testing.assert_allclose(course_shift_probabilities(1)[1], [1 / 4, 1 / 2, 1 / 4])
    with pytest.raises(ValueError, match="non-negative integer"):
        course_shift_probabilities(-1)


def test_course_probabilities_match_a_simulation_of_the_helpers_rounding():
    # The helper: t uniform on [-j, j], source index = output index + t, tf.round (half to even).
    rng = np.random.default_rng(0)
    t = rng.uniform(-3, 3, size=200_000)
    moved = np.round(10 + t).astype(int) - 10
    frequencies = np.bincount(moved + 3, minlength=7) / len(t)
    np.testing.assert_allclose(frequencies, course_shift_probabilities(3)[1], atol=0.004)


def test_weighted_share_of_hand_made_grids_equals_the_hand_computation():
    # jitter 1, p = 1/4, 1/2, 1/4: outcome 1 at (dx, dy) = (0, 0) and (1, -1) only.
    dx, dy = grid_shifts(1)
    outcome = ((dx == 0) & (dy == 0)) | ((dx == 1) & (dy == -1))
    grid = grid_outcome(dx, dy, outcome, 1)
    assert grid[0, 2] == 1 and grid[1, 1] == 1 and grid.sum() == 2  # [dy + 1, dx + 1]
    course, uniform = exact_shares(grid)
    assert course == pytest.approx(float(Fraction(1, 2) ** 2 + Fraction(1, 4) ** 2), abs=1e-15)  # 5/16
    assert uniform == pytest.approx(2 / 9, abs=1e-15)
    # jitter 3: outcome 1 iff |dx|, |dy| <= 2: (5/6)² = 25/36 under the course, 25/49 unweighted.
    dx, dy = grid_shifts(3)
    course, uniform = exact_shares(grid_outcome(dx, dy, (np.abs(dx) <= 2) & (np.abs(dy) <= 2), 3))
    assert course == pytest.approx(25 / 36, abs=1e-15) and uniform == pytest.approx(25 / 49, abs=1e-15)
    # Only dx = +3 (any dy): 1/12; a column of the grid, unweighted 7/49.
    assert exact_shares(grid_outcome(dx, dy, dx == 3, 3)) == pytest.approx((1 / 12, 1 / 7), abs=1e-15)


def test_grid_outcome_averages_repeated_shifts_and_refuses_an_incomplete_grid():
    dx, dy = grid_shifts(1)
    twice = grid_outcome(np.tile(dx, 2), np.tile(dy, 2), np.r_[np.ones(9), np.zeros(9)], 1)
    assert (twice == 0.5).all()
    with pytest.raises(ValueError, match="lacks 1 of the 9"):
        grid_outcome(dx[1:], dy[1:], np.ones(8), 1)
    with pytest.raises(ValueError, match="outside"):
        grid_outcome(np.r_[dx, 2], np.r_[dy, 0], np.ones(10), 1)


def test_exact_grid_shares_of_the_ring_trials():
    settings = ring_trial_settings(
        inputs=["ring"],
        jitters=[1, 3],
        trials_per_jitter=1,
        exhaustive_max_jitter=3,
        poolings=["max", "avg"],
    )
    trials = run_shard("grid", settings)
    shares = exact_grid_shares(trials, ["input", "fill", "pooling", "depth"], metrics=["identical"])
    assert len(shares) == 2 * 2 * 4 and set(shares["n_shifts"]) == {9, 49}
    for row in shares.itertuples():
        part = trials[
            (trials["jitter"] == row.jitter) & (trials["pooling"] == row.pooling) & (trials["depth"] == row.depth)
        ]
        assert row.share_uniform == pytest.approx(part["identical"].mean(), abs=1e-12)
        _, p = course_shift_probabilities(row.jitter)
        weights = p[part["dx"] + row.jitter] * p[part["dy"] + row.jitter]
        assert row.share_course == pytest.approx((weights * part["identical"]).sum(), abs=1e-12)
    # The exercise's claim: after four max pools the ring's 4×4 map never changes (jitter 3).
    four = shares[(shares["pooling"] == "max") & (shares["depth"] == 4) & (shares["jitter"] == 3)]
    assert four["share_course"].item() == pytest.approx(1.0, abs=1e-12) and four["share_uniform"].item() == 1.0
