"""Network-level consistency protocols: crop pairs (Zhang) and circular pairs (APS)."""

import numpy as np
import pytest

from poolkit.protocols import (
    PAIR_COLUMNS,
    centre_crops,
    circular_pairs,
    crop_pairs,
    pair_copies,
)

RESIZE_TO, CROP = 20, 14


def coded_images(n: int, side: int) -> np.ndarray:
    """Images whose every pixel is unique: value = image · side² + row · side + column (channel 0),
    and the same on two more channels, offset by a constant."""
    code = np.arange(n * side * side, dtype=np.int64).reshape(n, side, side)
    return np.stack([code, code + 10**6, code + 2 * 10**6], axis=-1)


def decode(values: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, row and column each pixel came from."""
    return values // (side * side), values // side % side, values % side


def test_crops_hold_only_real_pixels_at_the_recorded_offsets():
    images = coded_images(3, RESIZE_TO)
    pairs = crop_pairs(3, max_shift=4, passes=5, resize_to=RESIZE_TO, crop=CROP, rng=np.random.default_rng(0))
    assert list(pairs.columns) == PAIR_COLUMNS and len(pairs) == 15
    assert (pairs["pass"].to_numpy() == np.repeat(np.arange(5), 3)).all()
    a, b = pair_copies(images, pairs, crop=CROP)
    assert a.shape == b.shape == (15, CROP, CROP, 3)
    for copy, (ky, kx) in ((a, ("a_y", "a_x")), (b, ("b_y", "b_x"))):
        image, row, col = decode(copy[..., 0], RESIZE_TO)
        # Every pixel is the real pixel at (offset + position) of the pair's own image: no fill.
        assert (image == pairs["image"].to_numpy()[:, None, None]).all()
        assert (row == pairs[ky].to_numpy()[:, None, None] + np.arange(CROP)[None, :, None]).all()
        assert (col == pairs[kx].to_numpy()[:, None, None] + np.arange(CROP)[None, None, :]).all()
        assert (copy[..., 1] == copy[..., 0] + 10**6).all()
    for k, row in enumerate(pairs.itertuples()):
        assert np.array_equal(a[k], images[row.image, row.a_y : row.a_y + CROP, row.a_x : row.a_x + CROP])


def test_crop_offsets_lie_in_0_to_s_minus_1_clipped_to_the_room_left():
    rng = np.random.default_rng(1)
    pairs = crop_pairs(400, max_shift=3, passes=2, resize_to=RESIZE_TO, crop=CROP, rng=rng)
    assert set(np.unique(pairs[["a_y", "a_x", "b_y", "b_x"]])) == {0, 1, 2} and (pairs["offset_max"] == 3).all()
    # s larger than resize_to − crop is clipped to it: Zhang's randint(32) at 256 → 224, the last
    # position (resize_to − crop) never drawn.
    wide = crop_pairs(400, max_shift=31, passes=1, resize_to=RESIZE_TO, crop=CROP, rng=rng)
    assert set(np.unique(wide[["a_y", "a_x", "b_y", "b_x"]])) == set(range(RESIZE_TO - CROP))
    assert (wide["offset_max"] == RESIZE_TO - CROP).all() and (wide["max_shift"] == 31).all()
    zhang = crop_pairs(2000, max_shift=32, passes=1, resize_to=256, crop=224, rng=rng)
    assert set(np.unique(zhang[["a_y", "a_x", "b_y", "b_x"]])) == set(range(32))
    with pytest.raises(ValueError, match="smaller than resize_to"):
        crop_pairs(1, max_shift=1, passes=1, resize_to=12, crop=12, rng=rng)
    with pytest.raises(ValueError, match="at least 1"):
        crop_pairs(1, max_shift=0, passes=1, resize_to=RESIZE_TO, crop=CROP, rng=rng)


def test_circular_copies_are_np_roll_of_the_original_with_offsets_in_minus_s_to_s_minus_1():
    images = np.random.default_rng(2).integers(0, 256, size=(4, 9, 11, 3), dtype=np.uint8)
    pairs = circular_pairs(4, max_shift=5, passes=3, rng=np.random.default_rng(3))
    a, b = pair_copies(images, pairs)
    for k, row in enumerate(pairs.itertuples()):
        assert np.array_equal(a[k], np.roll(images[row.image], (row.a_y, row.a_x), axis=(0, 1)))
        assert np.array_equal(b[k], np.roll(images[row.image], (row.b_y, row.b_x), axis=(0, 1)))
    many = circular_pairs(500, max_shift=5, passes=1, rng=np.random.default_rng(4))
    assert set(np.unique(many[["a_y", "a_x", "b_y", "b_x"]])) == set(range(-5, 5))  # APS: randint(-s, s)
    with pytest.raises(ValueError, match="at least 1"):
        circular_pairs(1, max_shift=0, passes=1, rng=np.random.default_rng(4))


def test_identical_offset_pairs_are_flagged_and_their_copies_equal():
    images = coded_images(50, RESIZE_TO)
    for pairs, crop in (
        (crop_pairs(50, max_shift=2, passes=4, resize_to=RESIZE_TO, crop=CROP, rng=np.random.default_rng(5)), CROP),
        (circular_pairs(50, max_shift=2, passes=4, rng=np.random.default_rng(6)), None),
    ):
        same = (pairs["a_y"] == pairs["b_y"]) & (pairs["a_x"] == pairs["b_x"])
        assert pairs["same_offset"].equals(same) and 0 < same.sum() < len(pairs)
        assert (pairs["dy"] == pairs["b_y"] - pairs["a_y"]).all() and (pairs["dx"] == pairs["b_x"] - pairs["a_x"]).all()
        a, b = pair_copies(images, pairs, crop=crop)
        assert np.array_equal((a == b).all(axis=(1, 2, 3)), same.to_numpy())  # coded pixels: equal iff same offset


def test_same_seed_same_draws_other_seed_other_draws():
    def draw(seed: int):
        rng = np.random.default_rng(seed)
        return crop_pairs(20, max_shift=8, passes=5, resize_to=146, crop=128, rng=rng), circular_pairs(
            20, max_shift=8, passes=5, rng=rng
        )

    (c1, r1), (c2, r2), (c3, r3) = draw(7), draw(7), draw(8)
    assert c1.equals(c2) and r1.equals(r2)
    assert not c1.equals(c3) and not r1.equals(r3)


def test_centre_crop_takes_offset_half_the_room_rounded_down():
    images = coded_images(2, 21)
    centre = centre_crops(images, 14)
    _, row, col = decode(centre[..., 0], 21)
    assert (row[:, 0, 0] == 3).all() and (col[:, 0, 0] == 3).all() and centre.shape == (2, 14, 14, 3)
    assert np.array_equal(centre_crops(coded_images(1, 146), 128)[0], coded_images(1, 146)[0, 9:137, 9:137])
