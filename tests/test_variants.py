"""VGG16 base variants with swapped pooling (TensorFlow): stock equality, exact circular invariance,
and each custom layer against an independent formula."""

import numpy as np
import pytest

from poolkit.io import UserError
from poolkit.kinds import VARIANTS
from poolkit.pooling import aps_pool, blur_pool, dense_max, polyphase_components
from tests.helpers import blur_loop

#: Circular shifts (rows, columns): odd, negative, not multiples of 32, larger than the side.
SHIFTS = [(1, 0), (0, 1), (1, 1), (3, -5), (-7, 11), (17, 2), (31, 33), (40, -63)]


@pytest.fixture(scope="module")
def tf_ready():
    from poolkit import tfsetup

    tfsetup.configure(2)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, tf_ready):
    from poolkit.weights import random_model, save_weights

    path = tmp_path_factory.mktemp("w") / "seeded.weights.h5"
    save_weights(random_model(5), path)
    return path


@pytest.fixture(scope="module")
def stock(weights_file):
    from poolkit.weights import load_model_from_file

    return load_model_from_file(weights_file)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(-120, 130, size=(4, 64, 64, 3)).astype(np.float32)


def gap_scores(model, x: np.ndarray) -> np.ndarray:
    return model(x)[0].numpy().astype(np.float64)


def head_classes(scores: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return (scores @ weights + bias > 0).astype(int)


@pytest.mark.slow
def test_max_variant_equals_the_stock_keras_vgg16_base(weights_file, stock, images):
    from poolkit.variants import load_variant_base, variant_base

    rebuilt = variant_base(stock, "max")
    assert rebuilt is not stock and len(rebuilt.layers) == len(stock.layers)
    np.testing.assert_allclose(rebuilt(images).numpy(), stock(images).numpy(), rtol=1e-5, atol=1e-6)
    # Loaded from the weights file, every variant keeps the stock convolution weights.
    for variant in VARIANTS:
        base = load_variant_base(weights_file, variant)
        convs = [layer.get_weights() for layer in base.layers if type(layer).__name__ == "Conv2D"]
        assert len(convs) == 13
        for got, want in zip(convs, [layer.get_weights() for layer in stock.layers[1:] if layer.weights], strict=True):
            assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        # 128 px in: a 4×4×512 map out, like the stock base; 64 px in: 2×2, computed.
        assert tuple(base.compute_output_shape((1, 128, 128, 3))) == (1, 4, 4, 512)
        maps = base(images).numpy()
        assert maps.shape == (4, 2, 2, 512) and np.isfinite(maps).all() and maps.any(), variant
    with pytest.raises(UserError, match=r"^config key 'invariance\.network\.variants': unknown kind 'avg'"):
        variant_base(stock, "avg")


@pytest.mark.slow
def test_aps_circular_is_exactly_invariant_to_any_circular_shift_and_max_is_not(stock, images):
    from poolkit.variants import gap_model, variant_base

    aps = gap_model(variant_base(stock, "aps_circular"))
    plain = gap_model(variant_base(stock, "max"))
    reference, reference_max = gap_scores(aps, images), gap_scores(plain, images)
    rng = np.random.default_rng(7)
    weights = rng.normal(size=512)
    bias = -float(np.median(reference @ weights))  # a head that splits these images in two classes
    classes = head_classes(reference, weights, bias)
    assert 0 < classes.sum() < len(classes)
    worst_max = 0.0
    for shift in SHIFTS:
        moved = np.roll(images, shift, axis=(1, 2))
        scores = gap_scores(aps, moved)
        np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-6 * np.abs(reference).max())
        assert np.array_equal(head_classes(scores, weights, bias), classes)
        worst_max = max(worst_max, float(np.abs(gap_scores(plain, moved) - reference_max).max()))
    # The stock pooling and padding: some circular shift changes the GAP scores far beyond rounding.
    assert worst_max > 1e-2 * np.abs(reference_max).max()


@pytest.mark.slow
def test_aps_without_circular_convolutions_is_not_exactly_invariant(stock, images):
    from poolkit.variants import gap_model, variant_base

    aps = gap_model(variant_base(stock, "aps"))
    reference = gap_scores(aps, images)
    moved = gap_scores(aps, np.roll(images, (3, -5), axis=(1, 2)))
    assert not np.allclose(moved, reference, rtol=1e-4, atol=1e-6 * np.abs(reference).max())


def variant_pools(variant: str, maps: np.ndarray) -> np.ndarray:
    """The layers ``variant`` puts in place of one max pool, on (batch, C, H, W) maps, back in that layout."""
    from poolkit.kinds import network_layers

    x = np.moveaxis(maps, 1, -1)
    for layer in network_layers(variant, "p"):
        x = layer(x)
    return np.moveaxis(x.numpy(), -1, 1)


def test_blur_pool_of_a_4x4_map_by_hand(tf_ready):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x = variant_pools("blur", x)
    # 2×2 max, stride 1: [[5, 6, 7], [9, 10, 11], [13, 14, 15]]; reflected to 5×5; [1, 2, 1]/4 on
    # rows then columns at centres (1, 1), (1, 3), (3, 1), (3, 3) of the padded map.
    # e.g. (1, 1): rows 10 9 10 → 9.5, 6 5 6 → 5.5, 10 9 10 → 9.5; (9.5 + 2·5.5 + 9.5)/4 = 7.5.
    np.testing.assert_allclose(x[0, 0], [[7.5, 8.5], [11.5, 12.5]], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("variant", "taps"), [("blur_rect2", [1, 1]), ("blur", [1, 2, 1]), ("blur_bin5", [1, 4, 6, 4, 1])]
)
def test_each_blur_variant_equals_the_loop_formula(tf_ready, variant, taps):
    """2×2 max with stride 1 without padding (side n → n − 1), then Zhang's blur with stride 2, loop by loop."""
    maps = np.random.default_rng(5).normal(size=(2, 3, 8, 10)).astype(np.float32)
    got = variant_pools(variant, maps)
    assert got.shape == (2, 3, 4, 5)
    for image, channel in np.ndindex(2, 3):
        x = maps[image, channel]
        dense = np.array([[x[i : i + 2, j : j + 2].max() for j in range(9)] for i in range(7)])
        np.testing.assert_allclose(got[image, channel], blur_loop(dense, taps), rtol=1e-5, atol=1e-6)


def test_blur_pool_matches_the_numpy_reference_away_from_the_last_row_and_column(tf_ready):
    maps = np.random.default_rng(2).normal(size=(2, 3, 8, 10)).astype(np.float32)  # (batch, channel, H, W)
    got = variant_pools("blur", maps)
    want = blur_pool(maps)  # edge-replicated 2×2 max: same size, so its last row and column differ
    assert got.shape == want.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(got[..., :-1, :-1], want[..., :-1, :-1], rtol=1e-6, atol=1e-6)
    assert not np.allclose(got[..., -1, :], want[..., -1, :])


def test_polyphase_pick_takes_the_largest_norm_over_all_channels_per_image_ties_to_the_first(tf_ready):
    from poolkit.keras_layers import PolyphasePick

    x = np.zeros((3, 4, 4, 2), dtype=np.float32)
    # Image 0: component (1, 0) (odd rows, even columns) has the largest norm overall, although
    # channel 1 alone favours component (0, 0).
    x[0, 1::2, 0::2, 0] = 3.0
    x[0, 0::2, 0::2, 1] = 2.0
    # Image 1: components (0, 1) and (1, 1) tie (norm 4 each), (0, 0) is smaller: (0, 1) wins.
    x[1, 0::2, 1::2, 0] = [[2.0, 0.0], [0.0, 0.0]]
    x[1, 1::2, 1::2, 1] = [[0.0, 0.0], [0.0, -2.0]]
    x[1, 0, 0, 0] = 1.0
    # Image 2: all equal: the first, (0, 0).
    x[2] = 1.0
    out = PolyphasePick()(x).numpy()
    np.testing.assert_array_equal(out[0], x[0, 1::2, 0::2])
    np.testing.assert_array_equal(out[1], x[1, 0::2, 1::2])
    np.testing.assert_array_equal(out[2], x[2, 0::2, 0::2])
    # The same choice as the NumPy reference's order and norm.
    norms = np.square(polyphase_components(np.moveaxis(x, -1, 1))).sum(axis=(1, 3, 4))
    assert norms[0].argmax() == 1 and norms[1].argmax() == 2


def test_aps_pool_layers_equal_the_numpy_aps_pool(tf_ready):
    rng = np.random.default_rng(3)
    single = rng.normal(size=(5, 1, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(variant_pools("aps", single), aps_pool(single))
    # Several channels: one choice per image, by the norm over all channels together.
    maps = rng.normal(size=(3, 4, 8, 6)).astype(np.float32)
    components = polyphase_components(dense_max(maps, circular=True))  # (batch, C, 4, H/2, W/2)
    pick = np.square(components, dtype=np.float64).sum(axis=(1, 3, 4)).argmax(axis=1)
    np.testing.assert_array_equal(variant_pools("aps", maps), components[np.arange(3), :, pick])


def test_circular_convolution_equals_a_wrapped_correlation_by_hand(tf_ready):
    import keras

    from poolkit.keras_layers import CircularPad2D
    from poolkit.variants import conv_layers

    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 5, 6, 2)).astype(np.float32)
    padded = CircularPad2D((1, 2, 0, 3))(x).numpy()
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (1, 2), (0, 3), (0, 0)], mode="wrap"))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu")
    conv(x)
    conv.set_weights([rng.normal(size=(3, 3, 2, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)])
    y = x
    for layer in conv_layers(conv, circular=True):
        y = layer(y)
    kernel, bias = conv.get_weights()
    wrapped = np.pad(x[0], [(1, 1), (1, 1), (0, 0)], mode="wrap")
    want = np.zeros((5, 6, 3))
    for i in range(5):
        for j in range(6):
            want[i, j] = np.einsum("abc,abcd->d", wrapped[i : i + 3, j : j + 3], kernel) + bias
    np.testing.assert_allclose(y.numpy()[0], np.maximum(want, 0), rtol=1e-5, atol=1e-5)


def test_every_variant_swaps_each_pool_of_a_small_base_and_keeps_its_convolutions(tf_ready):
    """``variant_base`` on a two-block conv base (the fast tier's stand-in for VGG16): the pools are the
    registry's layers, the convolutions keep their weights, and the max variant computes the same maps."""
    import keras

    from poolkit.variants import gap_model, variant_base

    inputs = keras.Input(shape=(None, None, 3))
    x = keras.layers.MaxPooling2D(name="block1_pool")(keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs))
    x = keras.layers.MaxPooling2D(name="block2_pool")(keras.layers.Conv2D(5, 3, padding="same", name="c2")(x))
    base = keras.Model(inputs, x)
    images = np.random.default_rng(6).normal(size=(2, 8, 8, 3)).astype(np.float32)
    for variant in VARIANTS:
        swapped = variant_base(base, variant)
        maps = swapped(images).numpy()
        assert maps.shape == (2, 2, 2, 5), variant
        convolutions = [layer for layer in swapped.layers if isinstance(layer, keras.layers.Conv2D)]
        for copy, original in zip(convolutions, (base.get_layer("c1"), base.get_layer("c2")), strict=True):
            for got, want in zip(copy.get_weights(), original.get_weights(), strict=True):
                np.testing.assert_array_equal(got, want)
        if variant == "max":
            np.testing.assert_array_equal(maps, base(images).numpy())
        scores, _ = gap_model(swapped)(images)
        np.testing.assert_allclose(scores.numpy(), maps.mean(axis=(1, 2)), rtol=1e-6, atol=1e-6)


def test_a_cpu_job_that_asked_for_no_gpu_runs_on_the_cpu(tf_ready):
    from poolkit.device import compute_device, require_gpu, tensorflow_build

    require_gpu(False)  # nothing asked, nothing checked
    build = tensorflow_build()
    assert build["tensorflow"] and build["cuda_build"] in (True, False)
    assert build["cuda_version"] is None or build["cuda_build"]
    if not build["cuda_build"]:
        assert compute_device().startswith("CPU: ")
        with pytest.raises(UserError, match="CPU-only build"):
            require_gpu(True)
