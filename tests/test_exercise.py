"""The exercise's demonstrations (poolkit.exercise): the arrays its figures show and the numbers
the report quotes, checked against the exercise's own claims and by hand."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from poolkit import exercise
from poolkit.pooling import max_pool, ring


def test_condense_is_emboss_relu_and_one_max_pool():
    grey = np.random.default_rng(0).random((9, 12)).astype(np.float32)
    steps, record = exercise.condense(grey, "valid/Car/x.jpeg")
    assert list(steps) == ["Input", "Filter (emboss)", "Detect (ReLU)", "Condense (MaxPool)"]
    filtered = steps["Filter (emboss)"]
    # The emboss kernel at one pixel, by hand: VALID cross-correlation.
    by_hand = (grey[2:5, 3:6] * np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])).sum()
    assert filtered.shape == (7, 10) and filtered[2, 3] == pytest.approx(by_hand, rel=1e-6)
    assert np.array_equal(steps["Detect (ReLU)"], np.maximum(filtered, 0))
    assert steps["Condense (MaxPool)"].shape == (4, 5)  # 2×2, stride 2, SAME: ceil(7/2) × ceil(10/2)
    assert record["filtered_shape"] == [7, 10] and record["condensed_shape"] == [4, 5]
    assert record["share_zero_after_relu"] == np.mean(filtered <= 0)


def test_the_example_car_is_the_first_validation_car(tmp_path):
    manifest = pd.DataFrame(
        {"split": ["train", "valid", "valid", "valid"], "class_name": ["Car", "Truck", "Car", "Car"]}
    ).assign(image_id=lambda m: [f"i{i}" for i in range(len(m))])
    assert exercise.first_valid_car(manifest)["image_id"] == "i2"
    Image.fromarray(np.full((4, 4, 3), 255, dtype=np.uint8)).save(tmp_path / "white.png")
    grey = exercise.load_grey(tmp_path / "white.png")
    assert grey.dtype == np.float32 and grey.shape == (4, 4) and (grey == 1).all()


def test_the_shifted_ring_condensed_four_times_is_the_unshifted_one():
    """The exercise's claim: shifts of up to 3 px leave the ring's final 4×4 map unchanged."""
    shifts, rows, record = exercise.condensed_rings(64, 4, 3, np.random.default_rng(0))
    assert len(shifts) == len(rows) == exercise.EXAMPLES and all(max(map(abs, s)) <= 3 for s in shifts)
    assert [image.shape for image in rows[0]] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    reference = ring(64, 4)
    for _ in range(exercise.REPEATS):
        reference = max_pool(reference)
    assert record["final_identical_to_unshifted"] == [np.array_equal(row[-1], reference) for row in rows]
    assert all(record["final_identical_to_unshifted"]) and record["radius"] == 28
    assert record["shifts"] == [list(shift) for shift in shifts]


def test_global_average_pooling_keeps_one_value_per_map():
    maps, pooled, record = exercise.pooled_maps(np.random.default_rng(1))
    assert maps.shape == (exercise.N_MAPS, 5, 5) and ((maps > 0) & (maps < 1)).all()
    assert np.array_equal(pooled, maps.mean(axis=(1, 2)))
    assert record["pooled"] == pooled.round(6).tolist() and record["values_per_map_before"] == 25
    levels = np.array(record["levels"])
    assert (np.abs(levels) <= exercise.MAX_LEVEL).all()
    assert np.corrcoef(levels, pooled)[0, 1] > 0.9  # a map's level sets its average
