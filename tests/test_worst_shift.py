"""The worst shift: the enumerated shifts and their copies, the per-image outcomes and the summary's
intervals, the cost of the shipped configs against one consistency protocol, and (TensorFlow, slow)
aps_circular never fooled by any circular shift, whatever the weights."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from poolkit.config import validate_config
from poolkit.io import UserError
from poolkit.protocols import rolls
from poolkit.stats import clopper_pearson, clustered_share_interval
from poolkit.worst_shift import (
    check_crop_room,
    consistency_passes,
    image_outcomes,
    n_shifted,
    shift_grid,
    shifted_copies,
    worst_shift_passes,
    worst_shift_plan,
    worst_shift_summary,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def test_the_grid_is_every_shift_in_minus_s_to_s_minus_1_with_the_reference():
    grid = shift_grid(2)
    assert len(grid) == 16 == n_shifted(2) + 1
    assert {tuple(v) for v in grid} == {(dy, dx) for dy in range(-2, 2) for dx in range(-2, 2)}
    assert [tuple(v) for v in shift_grid(1)] == [(-1, -1), (-1, 0), (0, -1), (0, 0)]
    with pytest.raises(ValueError):
        shift_grid(0)


def test_the_plan_has_one_reference_per_image_and_protocol():
    plan = worst_shift_plan(3, ["crop", "circular"], 2)
    assert len(plan) == 2 * 3 * 16
    assert plan.groupby(["protocol", "image"])["reference"].sum().eq(1).all()
    with pytest.raises(UserError, match="unknown protocol zoom"):
        worst_shift_plan(3, ["zoom"], 2)


def test_circular_copies_are_rolls_and_crop_copies_move_the_centre_crop():
    images = np.random.default_rng(0).integers(0, 256, size=(2, 13, 13, 3), dtype=np.uint8)
    plan = worst_shift_plan(2, ["circular"], 2)
    copies = shifted_copies(images, plan)
    for row, copy in zip(plan.itertuples(), copies, strict=True):
        assert np.array_equal(copy, np.roll(images[row.image], (row.dy, row.dx), axis=(0, 1)))
    assert np.array_equal(copies[plan["reference"].to_numpy()], images)
    plan = worst_shift_plan(2, ["crop"], 2)
    copies = shifted_copies(images, plan, crop=8)  # room 5, centre offset 2: offsets 0..3
    for row, copy in zip(plan.itertuples(), copies, strict=True):
        assert np.array_equal(copy, images[row.image, 2 + row.dy : 2 + row.dy + 8, 2 + row.dx : 2 + row.dx + 8])
    assert np.array_equal(copies[plan["reference"].to_numpy()], images[:, 2:10, 2:10])  # the centre crop
    with pytest.raises(UserError, match=r"at most .* = 2"):
        shifted_copies(images, worst_shift_plan(2, ["crop"], 3), crop=8)


def test_the_crop_room_follows_the_centre_offset():
    check_crop_room(9, resize_to=146, crop=128)  # the real config: room 18, centre 9
    check_crop_room(4, resize_to=73, crop=64)  # the demo's: room 9, centre 4 (offsets 0..7)
    with pytest.raises(UserError, match=r"at most .* = 4"):
        check_crop_room(5, resize_to=73, crop=64)


def test_worst_shift_settings_check_the_crop_room_on_creation():
    from poolkit.worst_shift import WorstShiftSettings

    common = dict(n_images=2, resize_to=73, seed=0, crop=64)
    assert WorstShiftSettings(max_shift=4, protocols=["crop", "circular"], **common).max_shift == 4
    assert WorstShiftSettings(max_shift=5, protocols=["circular"], **common).max_shift == 5  # rolls need no room
    with pytest.raises(UserError, match=r"worst_shift\.max_shift: 5 moves the centre crop"):
        WorstShiftSettings(max_shift=5, protocols=["circular", "crop"], **common)


def copies_of(p_by_image: list[list[float]], variant: str = "max", protocol: str = "circular") -> pd.DataFrame:
    """Copies of one variant and protocol with s = 1: image i's four shifts get P(truck) p_by_image[i],
    the reference (0, 0) last."""
    grid = shift_grid(1)
    rows = []
    for i, ps in enumerate(p_by_image):
        for (dy, dx), p in zip(grid, ps, strict=True):
            rows.append((variant, protocol, 1, f"img{i}", i % 2, dy, dx, dy == 0 and dx == 0, p))
    columns = ["variant", "protocol", "max_shift", "image_id", "label", "dy", "dx", "reference", "p_truck"]
    return pd.DataFrame(rows, columns=columns)


def test_an_image_is_fooled_when_any_shift_changes_its_class():
    copies = copies_of([[0.7, 0.8, 0.9, 0.6], [0.4, 0.7, 0.2, 0.55], [0.1, 0.2, 0.3, 0.2]])
    images = image_outcomes(copies).set_index("image_id")
    assert images["n_shifts"].tolist() == [3, 3, 3]
    assert images["n_changed"].tolist() == [0, 2, 0]
    assert images["fooled"].tolist() == [False, True, False]
    assert images["worst_dp"].to_numpy() == pytest.approx([0.3, 0.35, 0.1])
    assert images["reference_class"].tolist() == [1, 1, 0]
    with pytest.raises(UserError, match="no reference copy"):
        image_outcomes(copies[~copies["reference"] | (copies["image_id"] != "img1")])


def test_the_summary_intervals_take_images_as_the_units():
    """10 images, 3 fooled (each by 2 of 3 shifts): an exact binomial interval over images for the fooled
    share, Korn–Graubard over images for the changed share."""
    fooled, calm = [0.4, 0.7, 0.2, 0.55], [0.6, 0.7, 0.8, 0.9]
    images = image_outcomes(copies_of([fooled] * 3 + [calm] * 7))
    row = worst_shift_summary(images).iloc[0]
    assert (row["n_images"], row["n_shifts"], row["n_fooled"]) == (10, 3, 3)
    low, high = (float(v) for v in clopper_pearson(np.array(3.0), np.array(10.0)))
    assert (row["fooled_share"], row["fooled_share_lo"], row["fooled_share_hi"]) == pytest.approx((0.3, low, high))
    _, low, high = clustered_share_interval(np.full(10, 3.0), np.array([2.0] * 3 + [0.0] * 7)[:, None])
    assert row["changed_share"] == pytest.approx(0.2)
    assert (row["changed_share_lo"], row["changed_share_hi"]) == pytest.approx((low[0], high[0]))
    assert row["worst_dp_lo"] < row["worst_dp"] < row["worst_dp_hi"]


def test_never_fooled_gives_zero_and_the_upper_end_of_its_interval():
    images = image_outcomes(copies_of([[0.6, 0.7, 0.8, 0.9]] * 12, variant="aps_circular"))
    row = worst_shift_summary(images).iloc[0]
    assert (row["n_fooled"], row["fooled_share"], row["fooled_share_lo"], row["changed_share"]) == (0, 0, 0, 0)
    assert row["fooled_share_hi"] == pytest.approx(1 - 0.025 ** (1 / 12))  # Clopper–Pearson at 0 of 12


@pytest.mark.parametrize("name", ["config/config.yaml", "config/demo.yaml", ".test/config/config.yaml"])
def test_the_shipped_configs_cost_at_most_one_consistency_protocol(name):
    config = validate_config(yaml.safe_load((ROOT / name).read_text()), SCHEMA)
    net = config["invariance"]["network"]
    worst = net["worst_shift"]
    assert worst_shift_passes(worst["n_images"], worst["max_shift"]) <= consistency_passes(
        net["n_images"], net["passes"], net["max_shifts"]
    )


def test_the_schema_defaults_cost_at_most_one_consistency_protocol():
    net = validate_config({}, SCHEMA)["invariance"]["network"]
    assert worst_shift_passes(net["worst_shift"]["n_images"], net["worst_shift"]["max_shift"]) == 3_200
    assert consistency_passes(net["n_images"], net["passes"], net["max_shifts"]) == 6_000


def test_a_max_shift_the_crop_cannot_hold_is_refused():
    config = {
        "features": {"image_size": 64},
        "invariance": {"network": {"resize_to": 73, "worst_shift": {"max_shift": 5}}},
    }
    with pytest.raises(UserError, match=r"invariance\.network\.worst_shift\.max_shift': 5 moves the centre crop"):
        validate_config(config, SCHEMA)
    circular = {**config, "invariance": {"network": {**config["invariance"]["network"], "protocols": ["circular"]}}}
    assert validate_config(circular, SCHEMA)["invariance"]["network"]["worst_shift"]["max_shift"] == 5


@pytest.mark.slow
def test_aps_circular_is_never_fooled_by_any_circular_shift(tmp_path):
    """Random weights, four 32 px images, every roll −2..1 px on both axes, a head that splits the
    images in two classes: aps_circular's class never changes; the stock max pools' scores do."""
    from poolkit import tfsetup

    tfsetup.configure(2)
    from poolkit.features import FeatureExtractor
    from poolkit.weights import random_model, save_weights

    weights = tmp_path / "seeded.weights.h5"
    save_weights(random_model(3), weights)
    images = np.random.default_rng(2).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    plan = worst_shift_plan(len(images), ["circular"], 2)
    stack = shifted_copies(images, plan)
    assert np.array_equal(stack[5], rolls(images, np.array([0]), np.array([-1]), np.array([-1]))[0])
    direction = np.random.default_rng(3).normal(size=512)
    outcomes = {}
    for variant in ("aps_circular", "max"):
        scores = FeatureExtractor(str(weights), "caffe", "float32", variant=variant).extract_arrays(stack, 16)
        logits = scores.astype(np.float64) @ direction
        bias = -np.median(logits[plan["reference"].to_numpy()])  # two images of each class
        copies = plan.assign(variant=variant, image_id=plan["image"].astype(str), label=0)
        copies["p_truck"] = 1 / (1 + np.exp(-(logits + bias) / np.abs(logits).std()))
        outcomes[variant] = image_outcomes(copies)
        if variant == "aps_circular":
            reference = scores[plan["reference"].to_numpy()][plan["image"].to_numpy()]
            np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-6 * np.abs(scores).max())
    aps = outcomes["aps_circular"]
    assert aps["reference_class"].sum() == 2
    assert not aps["fooled"].any() and (aps["n_changed"] == 0).all()
    assert outcomes["max"]["worst_dp"].max() > 100 * aps["worst_dp"].max()
    row = worst_shift_summary(aps).iloc[0]
    assert (row["n_fooled"], row["fooled_share"], row["changed_share"]) == (0, 0.0, 0.0)


def finding_text(finding) -> str:
    return "".join(part if isinstance(part, str) else part.text for part in finding.parts)


def test_the_findings_name_the_fooled_share_and_the_guarantee():
    from poolkit.findings import worst_shift_findings

    fooled = image_outcomes(copies_of([[0.4, 0.7, 0.2, 0.55]] * 3 + [[0.6, 0.7, 0.8, 0.9]] * 9))
    calm = image_outcomes(copies_of([[0.6, 0.7, 0.8, 0.9]] * 12, variant="aps_circular"))
    table = worst_shift_summary(pd.concat([fooled, calm], ignore_index=True))
    crop = worst_shift_summary(image_outcomes(copies_of([[0.6, 0.7, 0.8, 0.9]] * 12, "aps_circular", "crop")))
    circular, cropped = (finding_text(f) for f in worst_shift_findings(pd.concat([table, crop], ignore_index=True)))
    assert "every integer shift −1..0 px on both axes (rolls; 12 images × 3 shifted copies)" in circular
    assert "max: fooled on 3/12 images, 25.0 % [5.5, 57.2], by 16.7 % [" in circular
    assert "aps_circular: never fooled, 0/12 images, 0.0 % [0.0, 26.5], as guaranteed" in circular
    assert (
        "never fooled, 0/12 images, 0.0 % [0.0, 26.5] (this sample does not rule out a share up to 26.5 %)" in cropped
    )
