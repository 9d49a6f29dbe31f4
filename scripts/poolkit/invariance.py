"""Random-shift invariance trials of repeated 2×2 pooling, vectorised with NumPy."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .io import WorkflowError
from .pooling import disc, pool, ring, shift_images, square
from .stats import bootstrap_mean_ci

SYNTHETIC_INPUTS = {"ring": ring, "disc": disc, "square": square}
INPUTS: tuple[str, ...] = ("ring", "disc", "square", "dataset")
TRIAL_GROUP = ["input", "mode", "jitter", "pooling", "depth"]


def random_shifts(rng: np.random.Generator, jitter: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` integer shifts, each axis uniform on ``[-jitter, jitter]``."""
    return rng.integers(-jitter, jitter + 1, size=n), rng.integers(-jitter, jitter + 1, size=n)


def grid_shifts(jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """Every integer shift with ``|dx|, |dy| <= jitter``: (2J+1)² of them."""
    axis = np.arange(-jitter, jitter + 1)
    dy, dx = np.meshgrid(axis, axis, indexing="ij")
    return dx.ravel(), dy.ravel()


def _norms(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.sqrt(np.einsum("ti,ti->t", flat, flat))


def compare(base: np.ndarray, moved: np.ndarray, align_radius: int = 1) -> dict[str, np.ndarray]:
    """Per-trial similarity of pooled outputs ``base[t]`` and ``moved[t]`` (shape (T, h, w)).

    ``aligned_*`` compare the interior after the best output shift within
    ``align_radius`` cells, separating "invariant" from "merely translated";
    ``nl2`` and ``aligned_nl2`` are both relative to the norm of ``base[t]``.
    """
    diff_norm = _norms(base - moved)
    base_norm = _norms(base)
    moved_norm = _norms(moved)
    dot = np.einsum("thw,thw->t", base, moved, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        nl2 = np.where(base_norm > 0, diff_norm / base_norm, np.where(diff_norm > 0, np.inf, 0.0))
        cosine = np.where(
            (base_norm > 0) & (moved_norm > 0),
            dot / (base_norm * moved_norm),
            np.where(diff_norm > 0, 0.0, 1.0),
        )
    identical = np.all(base == moved, axis=(1, 2))
    r = align_radius
    h, w = base.shape[1:]
    if h <= 2 * r or w <= 2 * r:
        aligned_nl2 = np.full(len(base), np.nan)
        aligned_identical = np.zeros(len(base), dtype=bool)
    else:
        core = base[:, r : h - r, r : w - r]
        best = np.full(len(base), np.inf)
        aligned_identical = np.zeros(len(base), dtype=bool)
        for oy in range(-r, r + 1):
            for ox in range(-r, r + 1):
                window = moved[:, r + oy : h - r + oy, r + ox : w - r + ox]
                d = _norms(core - window)
                best = np.minimum(best, d)
                aligned_identical |= np.all(core == window, axis=(1, 2))
        # Relative to the whole unshifted output, like nl2: the core alone can be all zero
        # (the hole of a ring) while the map is not.
        with np.errstate(divide="ignore", invalid="ignore"):
            aligned_nl2 = np.where(base_norm > 0, best / base_norm, np.where(best > 0, np.inf, 0.0))
    return {
        "identical": identical,
        "nl2": nl2,
        "cosine": cosine,
        "aligned_identical": aligned_identical,
        "aligned_nl2": aligned_nl2,
    }


def pooled_trials(
    base: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    poolings: Sequence[str],
    depths: int,
    fill: str,
    chunk: int = 2048,
) -> pd.DataFrame:
    """Shift ``base`` ((H, W) or one image per trial (T, H, W)) and pool up to ``depths`` times.

    Returns one row per trial, pooling and depth with the columns of :func:`compare`.
    """
    n = len(dx)
    frames = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        originals = base if base.ndim == 2 else base[start:stop]
        moved = shift_images(originals, dx[start:stop], dy[start:stop], fill).astype(np.float32)
        reference = np.broadcast_to(originals, moved.shape).astype(np.float32)
        for pooling in poolings:
            a, b = reference, moved
            for depth in range(1, depths + 1):
                a, b = pool(a, pooling), pool(b, pooling)
                metrics = compare(a, b)
                frame = pd.DataFrame(metrics)
                frame.insert(0, "trial", np.arange(start, stop))
                frame.insert(1, "pooling", pooling)
                frame.insert(2, "depth", depth)
                frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["dx"] = np.asarray(dx)[table["trial"].to_numpy()]
    table["dy"] = np.asarray(dy)[table["trial"].to_numpy()]
    return table


def input_images(kind: str, size: int, r_shrink: int) -> np.ndarray:
    """One of the synthetic test images (ring, disc, square) as float32 (size, size)."""
    try:
        return SYNTHETIC_INPUTS[kind](size, r_shrink)
    except KeyError:
        raise WorkflowError(f"invariance.inputs: unknown input {kind!r}; allowed: {', '.join(INPUTS)}") from None


@dataclass(frozen=True, kw_only=True)
class TrialSettings:
    """What one shard of trials runs (the ``invariance`` section of the config)."""

    inputs: Sequence[str]
    jitters: Sequence[int]
    trials_per_jitter: int
    exhaustive_max_jitter: int
    poolings: Sequence[str]
    depths: int
    fill: str
    size: int
    r_shrink: int


def trial_rng(seed: int, kind: str, jitter: int) -> np.random.Generator:
    """The random stream of one input kind and jitter in shard ``s<seed>``.

    Keyed by the input's name (a CRC-32 of it), not its position in the config, so that
    adding or reordering inputs leaves every other input's trials unchanged.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=[zlib.crc32(kind.encode()), int(jitter)]))


def _shifts_and_images(
    shard: str, kind: str, jitter: int, settings: TrialSettings, dataset_images: np.ndarray | None
) -> tuple[str, int, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(mode, seed, dx, dy, image_index)`` of one input and jitter (index: dataset images only)."""
    if shard == "grid":
        dx, dy = grid_shifts(jitter)
        mode, seed, rng = "grid", -1, None
    else:
        seed = int(shard.removeprefix("s"))
        rng = trial_rng(seed, kind, jitter)
        dx, dy = random_shifts(rng, jitter, settings.trials_per_jitter)
        mode = "random"
    if kind != "dataset":
        return mode, seed, dx, dy, None
    if dataset_images is None or len(dataset_images) == 0:
        raise WorkflowError("invariance.inputs holds 'dataset' but no dataset images were given (--manifest)")
    n = len(dataset_images)
    if rng is None:
        return mode, seed, np.tile(dx, n), np.tile(dy, n), np.repeat(np.arange(n), len(dx))
    return mode, seed, dx, dy, rng.integers(0, n, size=len(dx))


def run_shard(
    shard: str,
    settings: TrialSettings,
    *,
    dataset_images: np.ndarray | None = None,
    dataset_ids: Sequence[str] = (),
) -> pd.DataFrame:
    """All trials of one shard: ``grid`` (every shift for small jitters) or ``s<seed>`` (random).

    Dataset images (grayscale, float in [0, 1]) are drawn per trial at random,
    or, on the grid, each one takes every shift.
    """
    unknown = sorted(set(settings.inputs) - set(INPUTS))
    if unknown:
        raise WorkflowError(f"invariance.inputs: unknown input(s) {', '.join(unknown)}; allowed: {', '.join(INPUTS)}")
    if dataset_images is not None and len(dataset_ids) != len(dataset_images):
        raise WorkflowError("the dataset input needs one image id per dataset image")
    frames = []
    for kind in settings.inputs:
        for jitter in settings.jitters:
            if shard == "grid" and jitter > settings.exhaustive_max_jitter:
                continue
            mode, seed, dx, dy, image_index = _shifts_and_images(shard, kind, jitter, settings, dataset_images)
            if image_index is None:
                base, trial_ids = input_images(kind, settings.size, settings.r_shrink), np.full(len(dx), kind, object)
            else:
                base, trial_ids = dataset_images[image_index], np.asarray(dataset_ids, dtype=object)[image_index]
            table = pooled_trials(base, dx, dy, settings.poolings, settings.depths, settings.fill)
            table.insert(0, "input", kind)
            table.insert(1, "image_id", trial_ids[table["trial"].to_numpy()])
            table.insert(2, "mode", mode)
            table.insert(3, "seed", seed)
            table.insert(4, "jitter", int(jitter))
            table.insert(5, "fill", settings.fill)
            frames.append(table)
    return pd.concat(frames, ignore_index=True)[TRIAL_COLUMNS]


TRIAL_COLUMNS = [
    "input",
    "image_id",
    "mode",
    "seed",
    "jitter",
    "fill",
    "trial",
    "dx",
    "dy",
    "pooling",
    "depth",
    "identical",
    "nl2",
    "cosine",
    "aligned_identical",
    "aligned_nl2",
]


def summarise(trials: pd.DataFrame, by: Sequence[str], n_boot: int, seed: int) -> pd.DataFrame:
    """Means with 95% bootstrap intervals per group, for shares and differences."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in trials.groupby(list(by), sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n_trials"] = len(group)
        for column, name in (
            ("identical", "identical_share"),
            ("nl2", "nl2"),
            ("cosine", "cosine"),
            ("aligned_identical", "aligned_identical_share"),
            ("aligned_nl2", "aligned_nl2"),
        ):
            mean, low, high = bootstrap_mean_ci(group[column].to_numpy(dtype=float), rng, n_boot)
            row[name] = mean
            row[f"{name}_lo"] = low
            row[f"{name}_hi"] = high
        rows.append(row)
    return pd.DataFrame(rows)


def shift_size(trials: pd.DataFrame) -> pd.Series:
    """Chebyshev size of each trial's shift, ``max(|dx|, |dy|)``."""
    return np.maximum(trials["dx"].abs(), trials["dy"].abs()).rename("shift")


def vgg_shift_set(images: np.ndarray, shifts: Sequence[int], seed: int, fill: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Shifted copies of RGB images (n, H, W, 3) for the VGG16-level test.

    Each image gets shift 0 plus one copy per size ``s`` in ``shifts``, moved by
    ``s`` pixels in one of the eight compass directions drawn at random.
    """
    rng = np.random.default_rng(seed)
    directions = np.array([(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)])
    rows, stack = [], []
    for index, image in enumerate(images):
        channels = np.moveaxis(image, -1, 0)
        sizes = [0, *shifts]
        picks = directions[rng.integers(0, 8, size=len(sizes))]
        dx = np.array(sizes) * picks[:, 0]
        dy = np.array(sizes) * picks[:, 1]
        for s, x, y in zip(sizes, dx, dy, strict=True):
            moved = shift_images(channels, np.repeat(x, 3), np.repeat(y, 3), fill)
            stack.append(np.moveaxis(moved, 0, -1))
            rows.append((index, int(s), int(x), int(y)))
    table = pd.DataFrame(rows, columns=["image_index", "shift", "dx", "dy"])
    return np.stack(stack).astype(np.uint8), table
