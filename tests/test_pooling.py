"""Exact properties of the NumPy pooling, shifting and test images."""

import numpy as np
import pytest

from poolkit.invariance import grid_shifts, pooled_metrics
from poolkit.io import UserError
from poolkit.kinds import POOLINGS, pool
from poolkit.pooling import (
    aps_pool,
    avg_pool,
    blur_pool,
    conv2d_valid,
    max_pool,
    polyphase_components,
    random_map,
    ring,
    same_global_average,
    shift_images,
)
from tests.helpers import blur_loop

RNG = np.random.default_rng(123)


def deep(x: np.ndarray, pooling: str, depth: int) -> np.ndarray:
    for _ in range(depth):
        x = pool(x, pooling)
    return x


@pytest.mark.parametrize("pooling", POOLINGS)
def test_zero_shift_gives_identical_outputs(pooling):
    image = RNG.random((64, 64)).astype(np.float32)
    table = pooled_metrics(image, np.array([0, 0]), np.array([0, 0]), poolings=[pooling], max_depth=4, fill="replicate")
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


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("fill", ["replicate", "reflect", "wrap"])
def test_constant_image_is_invariant_under_every_pooling(pooling, fill):
    image = np.full((32, 32), 0.7, dtype=np.float32)
    dx, dy = grid_shifts(3)
    table = pooled_metrics(image, dx, dy, poolings=[pooling], max_depth=4, fill=fill)
    assert table["identical"].all()


def reference_blur_pool(x: np.ndarray, taps: list[int]) -> np.ndarray:
    """Zhang's MaxBlurPool as the trials run it, loop by loop: max over each 2×2 window at stride 1
    (the last row and column repeated: same size), then the blur (:func:`tests.helpers.blur_loop`)."""
    h, w = x.shape
    dense = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            dense[i, j] = max(x[min(i + a, h - 1), min(j + b, w - 1)] for a in (0, 1) for b in (0, 1))
    return blur_loop(dense, taps)


def reference_aps_pool(x: np.ndarray) -> np.ndarray:
    """APS written out: circular 2×2 max at stride 1, then the polyphase component (offsets in the
    order (0,0), (1,0), (0,1), (1,1)) of largest sum of squares, the first among equals."""
    h, w = x.shape
    dense = np.array(
        [
            [max(x[i, j], x[(i + 1) % h, j], x[i, (j + 1) % w], x[(i + 1) % h, (j + 1) % w]) for j in range(w)]
            for i in range(h)
        ]
    )
    best, best_norm = None, -1.0
    for di, dj in ((0, 0), (1, 0), (0, 1), (1, 1)):
        component = dense[di::2, dj::2]
        norm = float(np.sum(component.astype(np.float64) ** 2))
        if norm > best_norm:
            best, best_norm = component, norm
    return best


def test_the_blur_filters_of_a_hand_made_map():
    """One bright cell, by hand: its dense 2×2 max is 64 at rows 2-3 × columns 2-3 of an 8×8 map."""
    x = np.zeros((8, 8), dtype=np.float32)
    x[3, 3] = 64.0
    # Rect-2 at kept (1, 1) = map (2, 2) averages rows 2-3 × columns 2-3: all 64; at (0, 0) rows 0-1: none.
    assert pool(x, "blur_rect2")[1, 1] == 64.0 and pool(x, "blur_rect2")[0, 0] == 0.0
    # Bin-5 at map (2, 2): rows and columns 0..4, of which 2 and 3 (weights 6 and 4) hold the block:
    # 64 · (10/16)² = 25. At map (0, 0): rows −2..2, row −2 reflected to 2 (weight 1) and row 2
    # (weight 1): 64 · (2/16)² = 1.
    assert pool(x, "blur_bin5")[1, 1] == 25.0 and pool(x, "blur_bin5")[0, 0] == 1.0


def test_blur_pool_of_a_hand_made_map():
    """One value 16 at (1, 1) of a 4×4 zero map: the dense max spreads it over rows 0-1 × columns 0-1;
    the blur of the kept cells, by hand, below (a wrong normalisation or stride fails it)."""
    x = np.zeros((4, 4), dtype=np.float32)
    x[1, 1] = 16.0
    out = blur_pool(x)
    # dense max: ones of 16 at rows 0-1, cols 0-1. Reflect-padded row -1 = row 1, col -1 = col 1.
    # kept (0, 0): rows -1, 0, 1 and cols -1, 0, 1 all lie in the 16-block: 16 · (16/16) = 16.
    # kept (0, 1) at column 2: columns 1, 2, 3 → only column 1 holds 16: weight 1/4 → 4.
    # kept (1, 1) at row 2, column 2: rows 1-3 × cols 1-3 → only (1, 1): weight 1/16 → 1.
    assert np.allclose(out, [[16.0, 4.0], [4.0, 1.0]])


@pytest.mark.parametrize(
    ("name", "taps"), [("blur_rect2", [1, 1]), ("blur", [1, 2, 1]), ("blur_bin5", [1, 4, 6, 4, 1])]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(4, 4), (6, 6), (8, 8), (5, 7), (3, 6)])
def test_each_blur_kind_equals_the_loop_formula(name, taps, seed, shape):
    x = np.random.default_rng(seed).random(shape).astype(np.float32)
    got, want = pool(x, name), reference_blur_pool(x, taps)
    assert got.shape == want.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # A batch is pooled image by image.
    np.testing.assert_array_equal(pool(np.stack([x, 2 * x]), name), [pool(x, name), pool(2 * x, name)])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("side", [2, 4, 8])
def test_aps_pool_equals_the_loop_formula(seed, side):
    x = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    assert np.array_equal(aps_pool(x), reference_aps_pool(x))


def test_aps_pool_of_a_hand_made_map_and_its_tie_rule():
    # 4×4 with one bright cell at (3, 3): the circular dense max puts it at (2,2), (2,3), (3,2), (3,3)
    # and, wrapping, nowhere else; components (0,0) and (1,1) hold one 5 each, (1,0) and (0,1) one each:
    # all four tie, so the first, (0,0) = dense[0::2, 0::2], is kept.
    x = np.zeros((4, 4), dtype=np.float32)
    x[3, 3] = 5.0
    assert np.array_equal(aps_pool(x), [[0.0, 0.0], [0.0, 5.0]])
    # A 3 at (1, 0) spreads to (0, 0), (1, 0), (0, 3), (1, 3): every component holds one 3 and one 5,
    # the four tie again, and (0, 0) keeps dense (0, 0) = 3 and dense (2, 2) = 5.
    x[1, 0] = 3.0
    assert np.array_equal(aps_pool(x), [[3.0, 0.0], [0.0, 5.0]])
    # A 4 at (0, 1) adds to components (0, 0) and (1, 1) only in part; the reference decides.
    x[0, 1] = 4.0
    assert np.array_equal(aps_pool(x), reference_aps_pool(x))


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
    with pytest.raises(UserError) as unknown:
        pool(x, "median")
    assert str(unknown.value).startswith(
        "config key 'invariance.poolings': unknown kind 'median'; known kinds: max, avg, blur"
    )


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
