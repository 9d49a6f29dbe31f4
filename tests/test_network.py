"""The whole network's consistency summary: shares per variant, protocol and max shift, same-offset
pairs counted, intervals over images (not pairs)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t

from poolkit.network import consistency_differences, consistency_summary, cosine
from poolkit.protocols import NetworkSettings, pair_plan
from poolkit.stats import clustered_share_interval, share_interval


def pairs_of(
    outcomes_per_image: list[list[bool]], same_offset: list[list[bool]] | None = None, variant: str = "max"
) -> pd.DataFrame:
    """A pair table for one variant, the crop protocol and max shift 4: image i's passes get outcomes[i]."""
    rows = []
    for i, outcomes in enumerate(outcomes_per_image):
        for k, outcome in enumerate(outcomes):
            same = same_offset[i][k] if same_offset else False
            rows.append((variant, "crop", 4, 4, f"img{i}", k, outcome, same, 1.0))
    columns = ["variant", "protocol", "max_shift", "offset_max", "image_id", "pass", "same_class", "same_offset"]
    return pd.DataFrame(rows, columns=[*columns, "cosine"])


def test_summary_counts_pairs_images_and_same_offset_pairs():
    pairs = pairs_of([[True, True], [True, False], [False, False]], [[True, False], [False, False], [False, True]])
    row = consistency_summary(pairs).iloc[0]
    assert (row["n_images"], row["n_pairs"], row["n_same_offset"]) == (3, 6, 2)
    assert row["consistency"] == pytest.approx(3 / 6)
    assert row["consistency_shifted"] == pytest.approx(2 / 4)  # without the two identical-by-construction pairs


def test_interval_takes_images_not_pairs_as_the_units():
    """20 images × 10 passes, each image's passes all alike: 20 independent units, not 200."""
    outcomes = [[i % 4 != 0] * 10 for i in range(20)]  # 15 consistent images, 5 not
    row = consistency_summary(pairs_of(outcomes)).iloc[0]
    _, wilson_low, wilson_high = share_interval(150, 200)
    _, per_image_low, per_image_high = clustered_share_interval(
        np.full(20, 10), 10.0 * (np.arange(20) % 4 != 0)[:, None]
    )
    assert row["consistency"] == pytest.approx(0.75)
    assert row["consistency_hi"] - row["consistency_lo"] > 1.5 * (wilson_high - wilson_low)
    assert (row["consistency_lo"], row["consistency_hi"]) == pytest.approx((per_image_low[0], per_image_high[0]))
    assert 0.45 < row["consistency_lo"] < 0.55 and 0.9 < row["consistency_hi"] < 0.95  # about 15 of 20


def test_the_pair_plan_is_seeded_by_protocol_and_shift_not_by_order():
    """The plan's settings name no variant: every variant is scored on the same pairs."""
    settings = dict(
        protocols=["crop", "circular"], max_shifts=[2, 9], resize_to=73, passes=2, n_images=5, seed=0, crop=64
    )
    plan = pair_plan(5, NetworkSettings(**settings))
    other = pair_plan(5, NetworkSettings(**{**settings, "max_shifts": [9, 2]}))
    key = ["protocol", "max_shift", "pass", "image"]
    assert plan.sort_values(key).reset_index(drop=True).equals(other.sort_values(key).reset_index(drop=True))
    crop = plan[plan["protocol"] == "crop"]
    assert crop["offset_max"].tolist() == [2] * 10 + [9] * 10
    assert (crop[["a_y", "a_x", "b_y", "b_x"]].to_numpy() < crop[["offset_max"]].to_numpy()).all()
    assert len(plan) == 2 * 2 * 2 * 5


def test_settings_refuse_unknown_names_and_a_resize_smaller_than_the_crop():
    from poolkit.io import UserError

    with pytest.raises(UserError, match=r"unknown protocol\(s\) zoom; allowed: crop, circular"):
        NetworkSettings(protocols=["zoom"], max_shifts=[2], resize_to=73, passes=1, n_images=2, seed=0, crop=64)
    with pytest.raises(UserError, match="resize_to"):
        NetworkSettings(protocols=["crop"], max_shifts=[2], resize_to=60, passes=1, n_images=2, seed=0, crop=64)


def test_cosine_of_rows():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 1.0], [2.0, 2.0], [0.0, 0.0]])
    assert np.allclose(cosine(a, b), [0.0, 1.0, 1.0])


def test_differences_to_max_are_paired_on_the_same_pairs():
    """Two variants on the same 10 images × 2 passes: blur consistent where max is not on images 0-3."""
    max_pairs = pairs_of([[i >= 4] * 2 for i in range(10)], variant="max")
    pairs = pd.concat([max_pairs, pairs_of([[True] * 2] * 10, variant="blur")], ignore_index=True)
    table = consistency_differences(pairs)
    row = table.iloc[0]
    assert (row["variant"], row["protocol"], row["max_shift"]) == ("blur", "crop", 4)
    assert row["difference"] == pytest.approx(0.4)
    per_image = np.array([1.0] * 4 + [0.0] * 6)  # each image's mean difference: a paired t interval over them
    expected = t.interval(0.95, 9, loc=0.4, scale=per_image.std(ddof=1) / np.sqrt(10))
    assert (row["difference_lo"], row["difference_hi"]) == pytest.approx(expected)
    assert 0 < row["difference_lo"] < 0.4 < row["difference_hi"] <= 0.8
    assert consistency_differences(pairs[pairs["variant"] == "blur"]).empty  # no baseline


def test_the_copy_plan_is_the_copies_in_one_order_that_shards_cut_at_whole_batches():
    """copy_plan + plan_copies give each protocol's copies a, then b, then the centre crops, as
    pair_copies and centre_crops make them; shard_bounds cuts it into ranges that cover it once, in
    order, on batch boundaries, for any shard count (so each copy meets the same batch)."""
    from poolkit.features import shard_bounds
    from poolkit.protocols import centre_crops, copy_plan, pair_copies, plan_copies

    settings = NetworkSettings(
        protocols=["crop", "circular"],
        max_shifts=[2, 5],
        resize_to=13,
        passes=2,
        n_images=3,
        seed=0,
        crop=8,
    )
    rng = np.random.default_rng(0)
    images = {
        "crop": rng.integers(0, 255, size=(3, 13, 13, 3), dtype=np.uint8),
        "circular": rng.integers(0, 255, size=(3, 8, 8, 3), dtype=np.uint8),
    }
    plan = pair_plan(3, settings)
    order = copy_plan(plan, 3, resize_to=13, crop=8)
    expected = []
    for protocol, rows in plan.groupby("protocol", sort=False):
        expected += pair_copies(images[protocol], rows, crop=8 if protocol == "crop" else None)
    expected.append(centre_crops(images["crop"], 8))
    assert np.array_equal(plan_copies(order, images, 8), np.concatenate(expected))
    assert len(order) == 2 * len(plan) + 3 and order["copy"].tolist()[-3:] == ["centre"] * 3
    for shards in (1, 3, 4, 7):
        bounds = [shard_bounds(len(order), 4, shards, k) for k in range(shards)]
        assert [b[0] for b in bounds[1:]] == [b[1] for b in bounds[:-1]] and bounds[-1][1] == len(order)
        assert all(start % 4 == 0 for start, _ in bounds)
        pieces = [plan_copies(order.iloc[start:stop], images, 8) for start, stop in bounds]
        assert np.array_equal(np.concatenate(pieces), np.concatenate(expected))
