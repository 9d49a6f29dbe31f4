"""Exact properties of the NumPy pooling, shifting and test images."""

import numpy as np
import pytest

from poolkit.invariance import grid_shifts, pooled_metrics
from poolkit.pooling import (
    aps_pool,
    avg_pool,
    blur_kernel,
    blur_pool,
    conv2d_valid,
    max_pool,
    polyphase_components,
    pool,
    random_map,
    ring,
    same_global_average,
    shift_images,
)

RNG = np.random.default_rng(123)


def deep(x: np.ndarray, pooling: str, depth: int) -> np.ndarray:
    for _ in range(depth):
        x = pool(x, pooling)
    return x


@pytest.mark.parametrize("pooling", ["max", "avg", "blur", "aps"])
def test_zero_shift_gives_identical_outputs(pooling):
    image = RNG.random((64, 64)).astype(np.float32)
    table = pooled_metrics(image, np.array([0, 0]), np.array([0, 0]), poolings=[pooling], depths=4, fill="replicate")
    assert table["identical"].all() and table["gap_equal"].all()
    assert np.allclose(table["nl2"], 0) and np.allclose(table["cosine"], 1)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("multiple", [1, -1, 2])
def test_shift_by_multiple_of_2k_translates_max_pooled_output_exactly(depth, multiple):
    image = np.zeros((64, 64), dtype=np.float32)
    image[16:48, 16:48] = RNG.random((32, 32))  # content away from the border
    step = 2**depth
    dx, dy = multiple * step, -multiple * step
    moved = shift_images(image, [dx], [dy], "replicate")[0]
    a, b = deep(image, "max", depth), deep(moved, "max", depth)
    sx, sy = dx // step, dy // step
    margin = 3
    core_a = a[margin - sy : a.shape[0] - margin - sy, margin - sx : a.shape[1] - margin - sx]
    core_b = b[margin : b.shape[0] - margin, margin : b.shape[1] - margin]
    assert np.array_equal(core_a, core_b)
    # ...and a shift that is not a multiple of 2^k does not translate it exactly.
    odd = shift_images(image, [1], [0], "replicate")[0]
    assert not np.array_equal(deep(odd, "max", depth), a)


@pytest.mark.parametrize("pooling", ["max", "avg", "blur", "aps"])
@pytest.mark.parametrize("fill", ["replicate", "reflect", "wrap"])
def test_constant_image_is_invariant_under_every_pooling(pooling, fill):
    image = np.full((32, 32), 0.7, dtype=np.float32)
    dx, dy = grid_shifts(3)
    table = pooled_metrics(image, dx, dy, poolings=[pooling], depths=4, fill=fill)
    assert table["identical"].all()


def test_blur_filter_sums_to_one_and_is_binomial():
    kernel = blur_kernel()
    assert kernel.sum() == pytest.approx(1.0)
    assert np.allclose(kernel * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("jitter", [0, 1, 2, 3, 5])
def test_exhaustive_grid_has_all_shifts(jitter):
    dx, dy = grid_shifts(jitter)
    assert len(dx) == (2 * jitter + 1) ** 2
    assert len(set(zip(dx.tolist(), dy.tolist(), strict=True))) == (2 * jitter + 1) ** 2
    assert max(np.abs(dx).max(), np.abs(dy).max()) == jitter


def test_pool_values_match_hand_computation():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert np.array_equal(max_pool(x), [[5, 7], [13, 15]])
    assert np.array_equal(avg_pool(x), [[2.5, 4.5], [10.5, 12.5]])
    assert blur_pool(x).shape == (2, 2)
    # SAME padding on odd sizes: the padded cells are ignored.
    odd = np.arange(9, dtype=np.float32).reshape(3, 3)
    assert np.array_equal(max_pool(odd), [[4, 5], [7, 8]])
    assert np.array_equal(avg_pool(odd), [[2, 3.5], [6.5, 8]])
    with pytest.raises(ValueError, match="allowed: max, avg, blur"):
        pool(x, "median")


def test_shift_fills():
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    assert np.array_equal(shift_images(x, [1], [0], "replicate")[0], [[1, 1, 2], [4, 4, 5], [7, 7, 8]])
    assert np.array_equal(shift_images(x, [1], [0], "zero")[0], [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    assert np.array_equal(shift_images(x, [1], [0], "reflect")[0], [[2, 1, 2], [5, 4, 5], [8, 7, 8]])
    assert np.array_equal(shift_images(x, [0], [-1], "replicate")[0], [[4, 5, 6], [7, 8, 9], [7, 8, 9]])
    batch = np.stack([x, 10 * x])
    moved = shift_images(batch, [0, 1], [0, 0], "zero")
    assert np.array_equal(moved[0], x) and np.array_equal(moved[1][:, 0], [0, 0, 0])


def test_ring_is_one_pixel_circle_of_expected_radius():
    image = ring(64, 4)
    assert image.shape == (64, 64)
    rows, cols = np.nonzero(image)
    radius = np.hypot(rows - rows.mean(), cols - cols.mean())
    assert abs(radius.mean() - 28 * 64 / 65) < 0.3  # radius 64 // 2 - 4, drawn on 65² then resized
    assert radius.max() - radius.min() < 2.5  # thin: one pixel, plus resize jitter
    assert image[32, 32] == 0  # a ring, not a disc
    assert 150 < image.sum() < 200  # about 2·π·28 pixels


def test_ring_max_pooled_four_times_is_4x4():
    assert deep(ring(64, 4), "max", 4).shape == (4, 4)


def test_conv2d_valid_is_cross_correlation():
    image = RNG.random((6, 7)).astype(np.float32)
    kernel = RNG.random((3, 3)).astype(np.float32)
    out = conv2d_valid(image, kernel)
    assert out.shape == (4, 5)
    assert out[1, 2] == pytest.approx(float((image[1:4, 2:5] * kernel).sum()), rel=1e-5)


def test_random_map_is_in_unit_interval_and_seeded():
    a = random_map((5, 5), 0.1, 4, np.random.default_rng(0))
    b = random_map((5, 5), 0.1, 4, np.random.default_rng(0))
    assert np.array_equal(a, b)
    assert a.shape == (5, 5) and (a > 0).all() and (a < 1).all() and a.std() > 0


# --------------------------------------------------------------------------- APS and circular shifts
def _circular_shift_of(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``b`` is some circular shift of ``a``."""
    return any(np.array_equal(np.roll(a, (u, v), axis=(0, 1)), b) for u in range(a.shape[0]) for v in range(a.shape[1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aps_under_circular_shifts_keeps_the_global_average_at_every_depth(seed):
    rng = np.random.default_rng(seed)
    image = rng.random((64, 64)).astype(np.float32)
    dx, dy = rng.integers(-9, 10, size=2)
    a, b = image, shift_images(image, [dx], [dy], "wrap")[0]
    assert np.array_equal(b, np.roll(image, (dy, dx), axis=(0, 1)))  # wrap is a circular shift
    for _depth in range(1, 7):
        a, b = aps_pool(a), aps_pool(b)
        assert same_global_average(a, b)
        assert _circular_shift_of(a, b)


def test_aps_depth_1_output_is_a_circular_shift_of_the_unshifted_one():
    image = np.random.default_rng(7).random((3, 16, 16)).astype(np.float32)
    for dx, dy in [(1, 0), (0, 1), (1, 1), (3, -5), (-7, 2)]:
        moved = np.roll(image, (dy, dx), axis=(1, 2))
        out, out_moved = aps_pool(image), aps_pool(moved)
        assert out.shape == (3, 8, 8)
        assert all(_circular_shift_of(out[i], out_moved[i]) for i in range(3))


def test_max_pooling_under_a_circular_shift_changes_the_global_average():
    """The counterexample: one-pixel circular shift of [1, 1, 0, 0] rows."""
    image = np.tile(np.array([1.0, 1.0, 0.0, 0.0], dtype=np.float32), (4, 1))
    moved = np.roll(image, 1, axis=1)
    assert max_pool(image).mean() == 0.5 and max_pool(moved).mean() == 1.0
    assert not same_global_average(max_pool(image), max_pool(moved))
    assert same_global_average(aps_pool(image), aps_pool(moved))


def test_aps_keeps_the_component_of_largest_norm_and_the_first_on_ties():
    x = np.zeros((4, 4), dtype=np.float32)
    x[1, 2] = 5.0  # after the circular 2×2 max it covers rows 0–1, columns 1–2
    components = polyphase_components(
        np.maximum(np.maximum(x, np.roll(x, -1, 0)), np.maximum(np.roll(x, -1, 1), np.roll(x, (-1, -1), (0, 1))))
    )
    norms = (components.astype(np.float64) ** 2).sum(axis=(-2, -1))
    assert np.array_equal(aps_pool(x), components[np.argmax(norms)])
    assert np.argmax(norms) == 0  # four equal norms: the first in the fixed order
    with pytest.raises(ValueError, match="even"):
        aps_pool(np.zeros((5, 4), dtype=np.float32))


def test_wrap_fill_is_a_circular_shift():
    image = np.arange(25, dtype=np.float32).reshape(5, 5)
    assert np.array_equal(shift_images(image, [2], [-1], "wrap")[0], np.roll(image, (-1, 2), axis=(0, 1)))
