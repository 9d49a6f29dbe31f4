"""NumPy pooling, shifting and the exercise's test images (vectorised over a batch).

Arrays are ``(..., H, W)``: any leading axes are a batch.
"""

from __future__ import annotations

import numpy as np

FILLS: tuple[str, ...] = ("replicate", "reflect", "zero", "wrap")

EMBOSS_KERNEL = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
#: A blur filter's taps along one axis; blur pooling applies it along rows and columns, normalised.
Taps = tuple[int, ...]
#: Zhang's 3-tap binomial filter (Tri-3), the ``blur`` kind's.
BINOMIAL_3: Taps = (1, 2, 1)


def blur_kernel(taps: Taps) -> np.ndarray:
    """The k×k blur ``taps`` ⊗ ``taps`` of blur pooling (the VGG16 variant's layer), normalised to sum 1."""
    line = np.asarray(taps, dtype=np.float32)
    kernel = np.outer(line, line)
    return (kernel / kernel.sum()).astype(np.float32)


def blur_padding(taps: Taps) -> tuple[int, int]:
    """Reflection padding before and after, per axis, for ``taps`` (Zhang's: (k − 1) // 2 and k // 2),
    so that the blur with stride 2 keeps ceil(n / 2) of n values."""
    return (len(taps) - 1) // 2, len(taps) // 2


def _pad_to_even(x: np.ndarray, value: float) -> np.ndarray:
    """Pad the last two axes at the end to even sizes ('SAME' for 2×2, stride 2)."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if not (pad_h or pad_w):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(0, pad_h), (0, pad_w)]
    return np.pad(x, widths, constant_values=value)


def max_pool(x: np.ndarray) -> np.ndarray:
    """2×2 max pooling, stride 2, padding SAME (as ``tf.nn.pool`` in the exercise)."""
    x = _pad_to_even(x, -np.inf)
    # Element-wise maxima of the four strided views: exact, and much faster than a
    # multi-axis .max() over a reshaped array.
    return np.maximum(
        np.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]), np.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2])
    )


def avg_pool(x: np.ndarray) -> np.ndarray:
    """2×2 average pooling, stride 2, padding SAME (padded cells are not counted)."""
    ones = np.ones(x.shape[-2:], dtype=x.dtype)
    x, ones = _pad_to_even(x, 0.0), _pad_to_even(ones, 0.0)
    # Explicit element-wise sums: unlike ndarray.sum, their rounding never depends on
    # memory alignment, so equal inputs always give bit-identical outputs.
    sums = (x[..., 0::2, 0::2] + x[..., 0::2, 1::2]) + (x[..., 1::2, 0::2] + x[..., 1::2, 1::2])
    counts = (ones[0::2, 0::2] + ones[0::2, 1::2]) + (ones[1::2, 0::2] + ones[1::2, 1::2])
    return sums / counts


def dense_max(x: np.ndarray, circular: bool) -> np.ndarray:
    """2×2 max with stride 1, same size: the window at (i, j) covers rows i, i+1 and columns
    j, j+1, wrapping round (``circular``) or repeating the last row and column (edge)."""
    if circular:
        down, right = np.roll(x, -1, axis=-2), np.roll(x, -1, axis=-1)
        diagonal = np.roll(down, -1, axis=-1)
    else:
        lead = [(0, 0)] * (x.ndim - 2)
        padded = np.pad(x, [*lead, (0, 1), (0, 1)], mode="edge")
        x, down, right, diagonal = (
            padded[..., :-1, :-1],
            padded[..., 1:, :-1],
            padded[..., :-1, 1:],
            padded[..., 1:, 1:],
        )
    return np.maximum(np.maximum(x, down), np.maximum(right, diagonal))


def _every_second(x: np.ndarray, start: int, count: int, axis: int) -> np.ndarray:
    """``count`` values of ``x`` along ``axis`` (−2 or −1), every second one from ``start``."""
    window = slice(start, start + 2 * count - 1, 2)
    return x[..., window, :] if axis == -2 else x[..., window]


def _strided_blur(x: np.ndarray, taps: Taps, axis: int) -> np.ndarray:
    """``taps`` / sum(taps) correlated along ``axis`` with stride 2 from the first value (VALID),
    computed only where the subsampling keeps it: each kept value by the same operations, tap by tap."""
    kept = (x.shape[axis] - len(taps)) // 2 + 1
    total = taps[0] * _every_second(x, 0, kept, axis)
    for offset, weight in enumerate(taps[1:], start=1):
        total = total + weight * _every_second(x, offset, kept, axis)
    return total / sum(taps)


def blur_pool(x: np.ndarray, taps: Taps = BINOMIAL_3) -> np.ndarray:
    """Anti-aliased max pooling (Zhang 2019): max 2×2 stride 1, reflection padding, the blur ``taps``
    along rows and columns, subsample by 2 (SAME: n → ceil(n / 2))."""
    lead = [(0, 0)] * (x.ndim - 2)
    pad = blur_padding(taps)
    padded = np.pad(dense_max(x, circular=False), [*lead, pad, pad], mode="reflect")
    return _strided_blur(_strided_blur(padded, taps, axis=-2), taps, axis=-1)


def polyphase_components(x: np.ndarray) -> np.ndarray:
    """The four stride-2 polyphase components of the last two axes, stacked on a new axis −3,
    in the fixed order (even, even), (odd, even), (even, odd), (odd, odd) rows × columns."""
    return np.stack([x[..., 0::2, 0::2], x[..., 1::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 1::2]], axis=-3)


def aps_pool(x: np.ndarray) -> np.ndarray:
    """Adaptive polyphase sampling after a circular 2×2 max (Chaman & Dokmanić, CVPR 2021).

    2×2 max with stride 1 on the circularly padded map, then, per image, the polyphase
    component with the largest l2 norm over the whole map (ties: the first in the order of
    :func:`polyphase_components`). Circularly shifting the input then circularly shifts
    the output (whenever no two components tie), so global pooling after it is invariant.
    """
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"APS pooling needs even sides, got {x.shape[-2]}×{x.shape[-1]}")
    components = polyphase_components(dense_max(x, circular=True))
    squares = np.square(components, dtype=np.float64)  # exact for float32 values
    pick = np.argmax(squares.sum(axis=(-2, -1)), axis=-1)  # argmax takes the first of equal norms
    return np.take_along_axis(components, pick[..., None, None, None], axis=-3)[..., 0, :, :]


def global_average(x: np.ndarray) -> np.ndarray:
    """Global average of each map (last two axes), summed in float64."""
    return x.reshape(*x.shape[:-2], -1).sum(axis=-1, dtype=np.float64) / (x.shape[-2] * x.shape[-1])


#: Global averages closer than this (relative) count as equal: the pooling runs in float32, whose
#: rounding (about 6e-8 per operation) differs when the same values are summed in another order.
GAP_RTOL = 1e-5


def same_global_average(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether maps ``a`` and ``b`` have the same global average, to float32 precision (:data:`GAP_RTOL`)."""
    return np.isclose(global_average(a), global_average(b), rtol=GAP_RTOL, atol=1e-9)


def _source_index(index: np.ndarray, size: int, fill: str) -> np.ndarray:
    """Map output indices minus shifts to valid source indices for an edge fill."""
    if fill == "replicate":
        return np.clip(index, 0, size - 1)
    if fill == "reflect":
        period = 2 * (size - 1)
        folded = np.mod(index, period)
        return np.where(folded >= size, period - folded, folded)
    if fill == "zero":
        return np.clip(index, 0, size - 1)
    if fill == "wrap":
        return np.mod(index, size)
    raise ValueError(f"unknown fill {fill!r}; allowed: {', '.join(FILLS)}")


def shift_images(images: np.ndarray, dx: np.ndarray, dy: np.ndarray, fill: str = "replicate") -> np.ndarray:
    """Shift each image ``images[i]`` (or one shared image) by integer ``(dx[i], dy[i])``.

    Positive ``dx`` moves content right, positive ``dy`` moves it down. Uncovered
    pixels are filled by ``fill``: edge replication, mirror reflection, zeros, or
    ``wrap``: a circular shift (what leaves one side comes back on the other).
    """
    dx = np.asarray(dx, dtype=np.int64).reshape(-1)
    dy = np.asarray(dy, dtype=np.int64).reshape(-1)
    height, width = images.shape[-2:]
    rows = np.arange(height)[None, :] - dy[:, None]
    cols = np.arange(width)[None, :] - dx[:, None]
    src_rows = _source_index(rows, height, fill)
    src_cols = _source_index(cols, width, fill)
    if images.ndim == 2:
        out = images[src_rows[:, :, None], src_cols[:, None, :]]
    else:
        batch = np.arange(images.shape[0])[:, None, None]
        out = images[batch, src_rows[:, :, None], src_cols[:, None, :]]
    if fill == "zero":
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        out = np.where(inside, out, 0).astype(images.dtype)
    return out


def circle_perimeter(centre_row: int, centre_col: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of a one-pixel circle (Bresenham / midpoint algorithm)."""
    rows, cols = [], []
    x, y, err = radius, 0, 1 - radius
    while x >= y:
        for r, c in ((y, x), (x, y), (-y, x), (-x, y), (y, -x), (x, -y), (-y, -x), (-x, -y)):
            rows.append(centre_row + r)
            cols.append(centre_col + c)
        y += 1
        if err < 0:
            err += 2 * y + 1
        else:
            x -= 1
            err += 2 * (y - x) + 1
    return np.array(rows), np.array(cols)


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes (pixel-centre convention)."""
    src_h, src_w = image.shape[-2:]
    rows = np.minimum(((np.arange(height) + 0.5) * src_h / height).astype(int), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * src_w / width).astype(int), src_w - 1)
    return image[..., rows[:, None], cols[None, :]]


def ring(size: int = 64, r_shrink: int = 4, value: float = 1.0) -> np.ndarray:
    """The exercise's ring: a one-pixel circle of radius size//2 − r_shrink.

    Drawn on a (size+1)² canvas centred at (size//2, size//2), then resized to
    size×size with nearest neighbour, like the course's ``visiontools.circle``.
    """
    canvas = np.zeros((size + 1, size + 1), dtype=np.float32)
    rows, cols = circle_perimeter(size // 2, size // 2, size // 2 - r_shrink)
    keep = (rows >= 0) & (rows <= size) & (cols >= 0) & (cols <= size)
    canvas[rows[keep], cols[keep]] = value
    return resize_nearest(canvas, size, size)


def disc(size: int = 64, r_shrink: int = 4) -> np.ndarray:
    """A filled disc with the ring's centre and radius."""
    radius = size // 2 - r_shrink
    yy, xx = np.mgrid[:size, :size]
    return (((yy - size // 2) ** 2 + (xx - size // 2) ** 2) <= radius**2).astype(np.float32)


def square(size: int = 64, r_shrink: int = 4) -> np.ndarray:
    """A filled axis-aligned square, side about 1.2 × the ring's radius, centred."""
    half = round(0.6 * (size // 2 - r_shrink))
    image = np.zeros((size, size), dtype=np.float32)
    c = size // 2
    image[c - half : c + half, c - half : c + half] = 1.0
    return image


def conv2d_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D cross-correlation with VALID padding (what ``tf.nn.conv2d`` computes)."""
    kh, kw = kernel.shape
    windows = np.lib.stride_tricks.sliding_window_view(image, (kh, kw))
    return np.einsum("ijkl,kl->ij", windows, kernel).astype(np.float32)


def random_map(
    size: tuple[int, int], scale: float, decay_power: float, rng: np.random.Generator, level: float = 0.0
) -> np.ndarray:
    """A smooth random feature map like the course's ``random_map``, values in (0, 1).

    A normal random spectrum whose amplitude falls as 1/|f|^decay_power, inverse
    FFT, scaled to [-1, 1], shifted by ``level`` (how strongly the feature is present
    overall), then squashed with a sigmoid.
    """
    height, width = size
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=size) + 1j * rng.normal(size=size)) / radius**decay_power
    spectrum[0, 0] = 0.0
    field = np.real(np.fft.ifft2(spectrum))
    field = field / (np.abs(field).max() + 1e-12) + level
    return (1.0 / (1.0 + np.exp(-field / (scale * 10)))).astype(np.float32)
