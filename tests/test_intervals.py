"""The invariance summaries' intervals: images as the units for the dataset input, exact values where
every shift of a synthetic input is enumerated, Wilson and t intervals elsewhere."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, norm, t

from poolkit.invariance import (
    MEAN_METRICS,
    SHARE_METRICS,
    SHIFT_GROUP,
    TRIAL_GROUP,
    TrialSettings,
    course_shift_probabilities,
    per_image_sums,
    run_shard,
    shown_jitter,
    summarise_shards,
    summarise_trials,
)
from poolkit.io import write_parquet
from poolkit.stats import cluster_ratio_variance, clustered_mean_interval, clustered_share_interval, share_interval
from tests.helpers import ring_trial_settings

ROOT = Path(__file__).resolve().parents[1]


def clustered_trials(sizes: list[int], outcomes: list[int], input_name: str = "dataset") -> pd.DataFrame:
    """Trials of one group, ``sizes[i]`` of them on image i, every one with the image's outcome."""
    image = np.repeat([f"im{i:02d}" for i in range(len(sizes))], sizes)
    outcome = np.repeat(outcomes, sizes).astype(bool)
    frame = pd.DataFrame(
        {"input": input_name, "mode": "random", "fill": "replicate", "jitter": 3, "pooling": "max", "depth": 4}
        | {"image_id": image, "dx": 0, "dy": 0}
        | {m: outcome for m in SHARE_METRICS}
        | {m: outcome.astype(float) * 0.5 for m in MEAN_METRICS}
    )
    return frame


def test_the_dataset_interval_takes_images_not_trials_as_the_units():
    """20 images of 50 trials each, all trials of an image alike, 6 images with the outcome: the share
    is 30 % over 1,000 trials, but it is known only as well as 20 images tell it."""
    outcomes = [1] * 6 + [0] * 14
    trials = clustered_trials([50] * 20, outcomes)
    row = summarise_trials(per_image_sums(trials, TRIAL_GROUP), TRIAL_GROUP).iloc[0]
    assert row["interval_method"] == "image_clustered" and row["n_images"] == 20 and row["n_trials"] == 1000
    assert row["identical_share"] == pytest.approx(0.3)
    _, wilson_low, wilson_high = share_interval(np.array([300]), np.array([1000]))
    low, high = row["identical_share_lo"], row["identical_share_hi"]
    # Korn-Graubard by hand: equal images, so the share's variance is that of the per-image shares / k.
    per_image = np.array(outcomes, dtype=float)
    effective = 0.3 * 0.7 / (per_image.var(ddof=1) / 20) * (norm.ppf(0.975) / t.ppf(0.975, 19)) ** 2
    x = 0.3 * effective
    assert (low, high) == pytest.approx((beta.ppf(0.025, x, effective - x + 1), beta.ppf(0.975, x + 1, effective - x)))
    assert 0.1 <= low <= 0.15 and 0.5 <= high <= 0.6  # about Clopper-Pearson's for 6 of 20
    assert high - low > 5 * (wilson_high[0] - wilson_low[0])  # Wilson on the trials: about ±2.8 points
    mean_interval = t.interval(0.95, 19, loc=0.15, scale=(per_image / 2).std(ddof=1) / np.sqrt(20))
    assert (row["nl2_lo"], row["nl2_hi"]) == pytest.approx(mean_interval)  # means: t over the images
    # The same trials as 1,000 independent ones of one synthetic image: Wilson, as before.
    synthetic = summarise_trials(per_image_sums(clustered_trials([1000], [1], "ring"), TRIAL_GROUP), TRIAL_GROUP)
    assert synthetic["interval_method"].item() == "wilson_t"


def test_the_clustered_variance_weighs_unequal_images_by_their_trials():
    """Unequal images: the ratio over every trial, its variance from each image's residual total."""
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 40, size=12)
    successes = rng.binomial(counts, rng.random(12)).astype(float)
    share, variance = cluster_ratio_variance(counts, successes[:, None])
    expected = successes.sum() / counts.sum()
    by_hand = sum((y - expected * n) ** 2 for y, n in zip(successes, counts, strict=True)) / counts.sum() ** 2
    assert share[0] == pytest.approx(expected) and variance[0] == pytest.approx(by_hand * 12 / 11)
    _, low, high = clustered_share_interval(counts, successes[:, None])
    assert 0 < low[0] < expected < high[0] < 1
    # No successes, no failures: the exact end, the other from the number of trials (no variance).
    _, low, high = clustered_share_interval(counts, np.column_stack([np.zeros(12), counts]))
    assert low[0] == 0 and high[1] == 1 and 0 < high[0] < 0.1 and 0.9 < low[1] < 1
    assert np.isnan(clustered_share_interval(counts[:1], successes[:1, None])[1]).all()  # one image: no interval


@pytest.mark.parametrize("n_images", [8, 24])
def test_the_clustered_share_interval_keeps_its_coverage_with_few_images(n_images: int):
    """Simulated studies: images whose shares vary (beta-binomial, intra-image correlation 0.05 and 0.2),
    2 pairs per image (the network stage's passes) or 125 trials (the demo's dataset trials per
    image), true shares 0.15 and 0.85. Korn-Graubard covers the truth in at least 93 % of 2,000
    studies each; a t interval over the images and a Wilson interval over the trials do not."""
    rng = np.random.default_rng(n_images)
    coverage: dict[str, list[float]] = {"kg": [], "t": [], "trials": []}
    for share in (0.15, 0.85):
        for correlation in (0.05, 0.2):
            spread = 1 / correlation - 1
            truth = rng.beta(share * spread, (1 - share) * spread, size=(n_images, 2000))
            for per_image in (2, 125):
                counts = np.full(n_images, per_image)
                successes = rng.binomial(per_image, truth).astype(float)
                intervals = {
                    "kg": clustered_share_interval(counts, successes)[1:],
                    "t": clustered_mean_interval(counts, successes)[1:],
                    "trials": share_interval(successes.sum(axis=0), counts.sum())[1:],
                }
                for name, (low, high) in intervals.items():
                    coverage[name].append(float(np.mean((low <= share) & (share <= high))))
    assert min(coverage["kg"]) >= 0.93, coverage["kg"]
    assert min(coverage["t"]) < 0.93 and min(coverage["trials"]) < 0.93  # the simulation can tell


def run_stage(tmp_path: Path, settings: TrialSettings, shards: list[str], **data) -> tuple[pd.DataFrame, ...]:
    paths = []
    for shard in shards:
        paths.append(tmp_path / f"{shard}.parquet")
        write_parquet(run_shard(shard, settings, **data), paths[-1])
    out = {name: tmp_path / f"{name}.{ext}" for name, ext in [("by_jitter", "tsv"), ("by_shift", "tsv")]}
    figures = [f"--{name}={tmp_path / name}.png" for name in ("depth-figure", "gap-equal-figure", "shift-figure")]
    cmd = [sys.executable, str(ROOT / "scripts/aggregate_trials.py"), "--trials", *map(str, paths)]
    cmd += [f"--by-jitter={out['by_jitter']}", f"--by-shift={out['by_shift']}", "--figure-jitter=1", *figures]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return tuple(pd.read_csv(path, sep="\t") for path in out.values())


@pytest.mark.integration
def test_the_stage_reports_the_rings_exact_shares_where_every_shift_is_enumerated(tmp_path):
    settings = ring_trial_settings(
        inputs=["ring", "dataset"],
        jitters=[1, 2],
        trials_per_jitter=60,
        exhaustive_max_jitter=1,
        poolings=["max", "avg"],
    )
    images = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    by_jitter, by_shift = run_stage(
        tmp_path, settings, ["grid", "s0", "s1"], dataset_images=images, dataset_ids=["a", "b", "c"]
    )
    ring = by_jitter[by_jitter["input"] == "ring"].set_index(["mode", "jitter", "pooling", "depth"])
    # By hand: at depth 4 average pooling leaves the ring unchanged only for the zero shift: 1 of the
    # 9 shifts, and under the course's shifts (1/4, 1/2, 1/4 per axis) with probability 1/2 · 1/2.
    for mode in ("grid", "random"):
        row = ring.loc[(mode, 1, "avg", 4)]
        assert row["interval_method"] == "exact" and row["n_shifts"] == 9 and row["n_images"] == 1
        assert row["identical_share"] == pytest.approx(1 / 9, abs=1e-6)
        assert row["identical_share_lo"] == row["identical_share_hi"] == row["identical_share"]
        assert row["identical_course_share"] == pytest.approx(1 / 4, abs=1e-6)
    assert ring.loc[("random", 1, "avg", 4), "n_trials"] == 120  # the random trials, estimating 1/9
    # Every exact row is the count over the grid's trials, weighted alike and by the course.
    grid = pd.read_parquet(tmp_path / "grid.parquet").query("input == 'ring'")
    _, p = course_shift_probabilities(1)
    for (pooling, depth), part in grid.groupby(["pooling", "depth"]):
        row = ring.loc[("random", 1, pooling, depth)]
        assert row["identical_share"] == pytest.approx(part["identical"].sum() / 9, abs=1e-6)
        course = (p[part["dx"] + 1] * p[part["dy"] + 1] * part["identical"]).sum()
        assert row["identical_course_share"] == pytest.approx(course, abs=1e-6)
        assert row["nl2"] == pytest.approx(part["nl2"].mean(), rel=1e-5)
    # Beyond the grid: random trials with Wilson intervals, no course share.
    beyond = ring.loc[("random", 2, "avg", 1)]
    assert beyond["interval_method"] == "wilson_t" and beyond["identical_share_lo"] < beyond["identical_share_hi"]
    assert np.isnan(beyond["identical_course_share"]) and np.isnan(beyond["n_shifts"])
    dataset = by_jitter[by_jitter["input"] == "dataset"]
    assert (dataset["interval_method"] == "image_clustered").all() and (dataset["n_images"] == 3).all()
    # By shift size: the shifts of size 0 and 1 are enumerated (1 and 8 of them), size 2 is not.
    shift = by_shift.query("input == 'ring' and pooling == 'avg' and depth == 4").set_index("shift")
    assert shift["interval_method"].tolist() == ["exact", "exact", "wilson_t"]
    assert shift["n_shifts"].tolist()[:2] == [1, 8] and shift["identical_share"].tolist()[:2] == [1.0, 0.0]


@pytest.mark.integration
def test_the_summaries_do_not_depend_on_how_the_shards_are_read_in_batches(tmp_path):
    """Each batch is reduced to sums per group and image: 7-row batches give the one-batch summaries."""
    settings = ring_trial_settings(
        inputs=["ring", "dataset"], jitters=[1, 2], trials_per_jitter=20, exhaustive_max_jitter=1, poolings=["max"]
    )
    images = np.random.default_rng(1).random((2, 64, 64)).astype(np.float32)
    paths = []
    for shard in ("grid", "s0"):
        paths.append(str(tmp_path / f"{shard}.parquet"))
        write_parquet(run_shard(shard, settings, dataset_images=images, dataset_ids=["a", "b"]), paths[-1])
    whole, batched = summarise_shards(paths), summarise_shards(paths[::-1], batch_rows=7)
    for one, other, keys in zip(whole, batched, [TRIAL_GROUP, SHIFT_GROUP], strict=True):
        # The values are the same; the rows' order follows the text columns' categories, which batches can change.
        one, other = (frame.astype({"input": str}).sort_values(keys, ignore_index=True) for frame in (one, other))
        pd.testing.assert_frame_equal(one, other, check_dtype=False)
    assert shown_jitter(whole[0], 2) == 2 and shown_jitter(whole[0], 3) == 1  # the exercise's, if it was run


def test_the_findings_state_the_rings_exact_share_and_the_course_weighted_one(tmp_path):
    from poolkit import findings
    from poolkit.invariance import exact_by_jitter, exact_shares, grid_outcome

    settings = ring_trial_settings(
        inputs=["ring"],
        jitters=[3],
        trials_per_jitter=50,
        exhaustive_max_jitter=3,
        poolings=["max", "aps"],
    )
    grid = run_shard("grid", settings)
    trials = pd.concat([grid, run_shard("s0", settings)], ignore_index=True)
    summary = summarise_trials(per_image_sums(trials, TRIAL_GROUP), TRIAL_GROUP, exact_by_jitter(grid), course=True)
    aps = grid.query("pooling == 'aps' and depth == 4")
    assert aps["identical"].sum() == 36  # the count: APS keeps the ring for 36 of the 49 shifts
    course, _ = exact_shares(grid_outcome(aps["dx"], aps["dy"], aps["identical"], 3))
    identical, _gap = findings.ring_findings(summary, 3)
    numbers = {part.key: part.text for part in identical.parts if isinstance(part, findings.Number)}
    assert numbers["ring.identical.aps.replicate"] == "36/49 = 73.5 %"
    assert numbers["ring.identical.max.replicate"] == "49/49 = 100.0 %"
    assert numbers["ring.identical_course.aps.replicate"] == f"{100 * course:.1f} %"
    text = "".join(part if isinstance(part, str) else part.text for part in identical.parts)
    assert "exact: every shift enumerated" in text and "50 trials" not in text
    path = tmp_path / "summary.tsv"
    summary.to_csv(path, sep="\t", index=False)
    lines = findings.run_summary(metrics="-", summary_by_jitter=path, variant_consistency="-", report="-", jitter=3)
    assert lines == [
        "Exercise ring shifted by up to ±3 px, after 4 max pools: output identical in 49/49 = 100.0 % of shifts "
        f"(exact: every shift enumerated; 100.0 % under the course's shift distribution) ({path})"
    ]
