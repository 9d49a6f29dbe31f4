"""Invariance trials: shard layout, metrics and aggregation."""

import numpy as np
import pytest

from poolkit.invariance import (
    TRIAL_GROUP,
    TrialSettings,
    compare,
    run_shard,
    summarise_sums,
    trial_sums,
)
from poolkit.io import UserError

COMMON = {
    "trials_per_jitter": 30,
    "exhaustive_max_jitter": 2,
    "poolings": ["max", "avg", "blur"],
    "max_depth": 4,
    "fills": ["replicate"],
    "size": 64,
    "r_shrink": 4,
}


def settings(inputs: list[str], jitters: list[int], **changes) -> TrialSettings:
    return TrialSettings(inputs=inputs, jitters=jitters, **{**COMMON, **changes})


def test_random_shard_has_the_requested_trials_and_is_seeded():
    a = run_shard("s3", settings(["ring", "square"], [1, 3]))
    b = run_shard("s3", settings(["ring", "square"], [1, 3]))
    assert a.equals(b)
    assert len(a) == 2 * 2 * 30 * 3 * 4
    assert a["dx"].abs().max() <= 3 and set(a["seed"]) == {3}
    c = run_shard("s4", settings(["ring"], [3]))
    assert not np.array_equal(c["dx"].to_numpy(), a[(a["input"] == "ring") & (a["jitter"] == 3)]["dx"].to_numpy())


def test_a_new_input_kind_leaves_the_other_inputs_trials_unchanged(monkeypatch):
    """Random streams are keyed by the input's name: a kind added to the code (here at the front
    of the list of kinds) or to the config changes no other input's trials."""
    from poolkit import invariance

    images = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    ids = ["a", "b", "c"]
    before = run_shard("s1", settings(["square", "dataset"], [2, 3]), dataset_images=images, dataset_ids=ids)
    monkeypatch.setattr(invariance, "INPUTS", ("cross", *invariance.INPUTS))
    monkeypatch.setitem(invariance.SYNTHETIC_INPUTS, "cross", lambda size, r: np.eye(size, dtype=np.float32))
    after = run_shard("s1", settings(["cross", "dataset", "square"], [2, 3]), dataset_images=images, dataset_ids=ids)
    for kind in ("square", "dataset"):
        a = before[before["input"] == kind].reset_index(drop=True)
        b = after[after["input"] == kind].reset_index(drop=True)
        assert a.equals(b), kind
    cross, square = (
        after[(after["input"] == k) & (after["jitter"] == 3)]["dx"].to_numpy() for k in ("cross", "square")
    )
    assert not np.array_equal(cross, square)  # and each input has a stream of its own


def test_an_unknown_input_is_a_clear_error():
    with pytest.raises(UserError, match=r"invariance.inputs: unknown input.*triangle.*allowed: ring"):
        run_shard("s0", settings(["ring", "triangle"], [1]))


def test_grid_shard_covers_every_small_shift_once():
    table = run_shard("grid", settings(["ring"], [1, 2, 3]))
    per_jitter = table[(table["pooling"] == "max") & (table["depth"] == 1)].groupby("jitter").size()
    assert per_jitter.to_dict() == {1: 9, 2: 25}  # jitter 3 > exhaustive_max_jitter


def test_dataset_input_uses_the_given_images():
    images = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    table = run_shard("grid", settings(["dataset"], [1]), dataset_images=images, dataset_ids=["a", "b", "c"])
    assert sorted(table["image_id"].unique()) == ["a", "b", "c"]
    assert len(table) == 3 * 9 * 3 * 4


def test_ring_max_pooling_is_fully_invariant_at_depth_4_for_small_shifts():
    """Not a theorem: a property of this ring and grid alignment, which the exercise shows."""
    table = run_shard("grid", settings(["ring"], [1]))
    deep_max = table[(table["pooling"] == "max") & (table["depth"] == 4)]
    assert deep_max["identical"].all()
    deep_avg = table[(table["pooling"] == "avg") & (table["depth"] == 4)]
    assert deep_avg["identical"].sum() == 1  # only the zero shift


def test_compare_tells_translated_from_invariant():
    base = np.zeros((1, 8, 8))
    base[0, 3, 3] = 1.0
    moved = np.roll(base, 1, axis=2)
    metrics = compare(base, moved)
    assert not metrics["identical"][0] and metrics["aligned_identical"][0]
    assert metrics["nl2"][0] == pytest.approx(np.sqrt(2)) and metrics["aligned_nl2"][0] == 0
    assert metrics["cosine"][0] == 0


def test_aligned_distance_is_finite_when_the_core_is_empty():
    """The hole of a ring: the interior of the unshifted output is all zero, the map is not."""
    base = np.zeros((1, 4, 4))
    base[0, 0, :] = 1.0
    moved = np.ones((1, 4, 4))
    metrics = compare(base, moved)
    # every 2×2 window of ones is 2 away from the empty core; relative to ‖base‖ = 2
    assert metrics["aligned_nl2"][0] == pytest.approx(1.0)
    assert not metrics["aligned_identical"][0]


def test_summary_of_deep_ring_trials_is_finite():
    table = run_shard("s0", settings(["ring"], [4, 8]))
    summary = summarise_sums(trial_sums(table, TRIAL_GROUP))
    columns = [c for c in summary.columns if c.startswith(("identical", "nl2", "cosine", "aligned"))]
    assert np.isfinite(summary[columns].to_numpy(float)).all()


def test_summary_has_intervals_around_the_means():
    table = run_shard("s0", settings(["ring"], [3]))
    summary = summarise_sums(trial_sums(table, TRIAL_GROUP))
    assert len(summary) == 3 * 4
    assert (summary["n_trials"] == 30).all()
    for name in ("identical_share", "nl2", "cosine"):
        assert (summary[f"{name}_lo"] <= summary[name] + 1e-12).all()
        assert (summary[name] <= summary[f"{name}_hi"] + 1e-12).all()


def test_several_fills_see_the_same_shifts_and_wrap_makes_aps_gap_invariant_on_images():
    images = np.random.default_rng(3).random((4, 64, 64)).astype(np.float32)
    table = run_shard(
        "s0",
        settings(["dataset"], [3], fills=["replicate", "wrap"], poolings=["max", "aps"]),
        dataset_images=images,
        dataset_ids=list("abcd"),
    )
    rep, wrap = (table[table["fill"] == f].reset_index(drop=True) for f in ("replicate", "wrap"))
    assert rep[["trial", "dx", "dy", "image_id", "pooling", "depth"]].equals(
        wrap[["trial", "dx", "dy", "image_id", "pooling", "depth"]]
    )
    aps_wrap = wrap[wrap["pooling"] == "aps"]
    assert aps_wrap["gap_equal"].all()  # every depth: the exact property of APS under circular shifts
    max_wrap = wrap[(wrap["pooling"] == "max") & ((wrap["dx"] % 16 != 0) | (wrap["dy"] % 16 != 0))]
    assert not max_wrap["gap_equal"].all()
    moved = rep[(rep["pooling"] == "aps") & ((rep["dx"] != 0) | (rep["dy"] != 0))]
    assert not moved["gap_equal"].all()  # with edge replication APS is not invariant


def test_repeated_shifts_are_computed_once_and_give_the_same_rows():
    """Dedup of (image, shift) cases: the table equals one computed trial by trial."""
    from poolkit.invariance import pooled_metrics

    table = run_shard("s2", settings(["square"], [1]))  # 30 trials, at most 9 distinct shifts
    trials = table[(table["pooling"] == "blur") & (table["depth"] == 2)].reset_index(drop=True)
    from poolkit.pooling import square

    direct = pooled_metrics(
        square(64, 4),
        trials["dx"].to_numpy(),
        trials["dy"].to_numpy(),
        poolings=["blur"],
        max_depth=2,
        fill="replicate",
    )
    assert np.array_equal(direct["nl2"][0, 1], trials["nl2"].to_numpy())
    assert np.array_equal(direct["identical"][0, 1], trials["identical"].to_numpy())


def test_shares_have_wilson_intervals_and_means_t_intervals():
    from poolkit.stats import mean_interval, share_interval

    share, low, high = share_interval(np.array([0, 10, 5]), np.array([10, 10, 10]))
    assert share.tolist() == [0, 1, 0.5] and low[0] == 0 and high[1] == 1
    assert 0.0 < high[0] < 0.35 and 0.65 < low[1] < 1.0 and low[2] < 0.5 < high[2]  # never a zero-width share
    x = np.random.default_rng(0).normal(3.0, 2.0, size=400)
    _mean, lo, hi = mean_interval(np.array([400]), np.array([x.sum()]), np.array([(x * x).sum()]), np.array([False]))
    assert lo[0] < 3.0 < hi[0] and hi[0] - lo[0] == pytest.approx(2 * 1.966 * x.std(ddof=1) / 20, rel=1e-3)
    const = mean_interval(np.array([5]), np.array([5.0]), np.array([5.0]), np.array([True]))
    assert [v[0] for v in const] == [1.0, 1.0, 1.0]
