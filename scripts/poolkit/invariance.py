"""Random-shift invariance trials of repeated 2×2 pooling, vectorised with NumPy."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from . import stats
from .io import UserError
from .kinds import pool
from .pooling import disc, ring, same_global_average, shift_images, square
from .settings import StageSettings, config_field

SYNTHETIC_INPUTS = {"ring": ring, "disc": disc, "square": square}
INPUTS: tuple[str, ...] = ("ring", "disc", "square", "dataset")
TRIAL_GROUP = ["input", "mode", "fill", "jitter", "pooling", "depth"]
#: Per-trial 0/1 outcomes (summarised as shares) and continuous differences (as means).
SHARE_METRICS = ("identical", "aligned_identical", "gap_equal")
MEAN_METRICS = ("nl2", "cosine", "aligned_nl2")
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
    "gap_equal",
]


def random_shifts(rng: np.random.Generator, jitter: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` integer shifts, each axis uniform on ``[-jitter, jitter]``."""
    return rng.integers(-jitter, jitter + 1, size=n), rng.integers(-jitter, jitter + 1, size=n)


def grid_shifts(jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """Every integer shift with ``|dx|, |dy| <= jitter``: (2J+1)² of them."""
    axis = np.arange(-jitter, jitter + 1)
    dy, dx = np.meshgrid(axis, axis, indexing="ij")
    return dx.ravel(), dy.ravel()


def _norms(x: np.ndarray) -> np.ndarray:
    """l2 norm of each map, accumulated in float64 (exactly zero only for an all-zero map)."""
    flat = x.reshape(len(x), -1)
    return np.sqrt(np.einsum("ti,ti->t", flat, flat, dtype=np.float64))


def _aligned(base: np.ndarray, moved: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest distance of the interior of ``base`` to ``moved`` under output shifts up to ``r``
    cells, and whether some such shift makes them identical."""
    h, w = base.shape[1:]
    if h <= 2 * r or w <= 2 * r:
        return np.full(len(base), np.nan), np.zeros(len(base), dtype=bool)
    core = base[:, r : h - r, r : w - r]
    best = np.full(len(base), np.inf)
    for oy in range(-r, r + 1):
        for ox in range(-r, r + 1):
            window = moved[:, r + oy : h - r + oy, r + ox : w - r + ox]
            best = np.minimum(best, _norms(core - window))
    return best, best == 0  # a zero norm of the difference: identical (finite values)


def compare(base: np.ndarray, moved: np.ndarray, align_radius: int = 1) -> dict[str, np.ndarray]:
    """Per-trial similarity of pooled outputs ``base[t]`` and ``moved[t]`` (shape (T, h, w)).

    ``aligned_*`` compare the interior after the best output shift within
    ``align_radius`` cells, separating "invariant" from "merely translated";
    ``nl2`` and ``aligned_nl2`` are both relative to the norm of ``base[t]``;
    ``gap_equal``: the global averages are equal (what GAP after the pooling sees).
    """
    base = np.broadcast_to(base, moved.shape)
    diff_norm = _norms(base - moved)
    base_norm = _norms(base)
    moved_norm = _norms(moved)
    dot = np.einsum("thw,thw->t", base, moved, dtype=np.float64)
    best, aligned_identical = _aligned(base, moved, align_radius)
    with np.errstate(divide="ignore", invalid="ignore"):
        nl2 = np.where(base_norm > 0, diff_norm / base_norm, np.where(diff_norm > 0, np.inf, 0.0))
        cosine = np.where(
            (base_norm > 0) & (moved_norm > 0),
            dot / (base_norm * moved_norm),
            np.where(diff_norm > 0, 0.0, 1.0),
        )
        # Relative to the whole unshifted output, like nl2: the core alone can be all zero
        # (the hole of a ring) while the map is not.
        aligned_nl2 = np.where(base_norm > 0, best / base_norm, np.where(best > 0, np.inf, 0.0))
    return {
        "identical": diff_norm == 0,
        "nl2": nl2,
        "cosine": cosine,
        "aligned_identical": aligned_identical,
        "aligned_nl2": aligned_nl2,
        "gap_equal": same_global_average(base, moved),
    }


def pooled_metrics(
    base: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    *,
    poolings: Sequence[str],
    max_depth: int,
    fill: str,
    chunk: int = 2048,
) -> dict[str, np.ndarray]:
    """Shift ``base`` ((H, W), or one image per trial (T, H, W)) and pool both up to ``max_depth`` times.

    Returns each metric of :func:`compare` as an array (pooling, depth, trial).
    """
    n = len(dx)
    out: dict[str, np.ndarray] = {}
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        originals = (base if base.ndim == 2 else base[start:stop]).astype(np.float32)
        moved = shift_images(originals, dx[start:stop], dy[start:stop], fill)
        for p, pooling in enumerate(poolings):
            a, b = originals, moved  # a 2-D base is pooled once, then broadcast
            for depth in range(max_depth):
                a, b = pool(a, pooling), pool(b, pooling)
                for name, values in compare(a, b).items():
                    if name not in out:
                        out[name] = np.empty((len(poolings), max_depth, n), dtype=values.dtype)
                    out[name][p, depth, start:stop] = values
    return out


def input_images(kind: str, size: int, r_shrink: int) -> np.ndarray:
    """One of the synthetic test images (ring, disc, square) as float32 (size, size)."""
    try:
        return SYNTHETIC_INPUTS[kind](size, r_shrink)
    except KeyError:
        raise UserError(f"invariance.inputs: unknown input {kind!r}; allowed: {', '.join(INPUTS)}") from None


@dataclass(frozen=True, kw_only=True)
class TrialSettings(StageSettings):
    """What one shard of trials runs: the config's ``invariance`` section (but ``seeds``, which name the
    shards, ``n_dataset_images``, how many images the stage reads for the ``dataset`` input, and
    ``network``)."""

    SECTION = "invariance"

    inputs: Sequence[str]
    jitters: Sequence[int]
    trials_per_jitter: int
    exhaustive_max_jitter: int
    poolings: Sequence[str]
    max_depth: int
    fills: Sequence[str]
    size: int = config_field("invariance.image_size")
    r_shrink: int


def _input_stack(kind: str, settings: TrialSettings, dataset_images: np.ndarray | None) -> np.ndarray:
    """The images of one input kind, stacked (n, H, W): the dataset's, or the one drawn shape."""
    if kind != "dataset":
        return input_images(kind, settings.size, settings.r_shrink)[None]
    if dataset_images is None:
        raise UserError("the trial input 'dataset' needs the dataset's images (--manifest)")
    return dataset_images


def trial_shards(exhaustive_max_jitter: int, seeds: Sequence[int]) -> list[str]:
    """The trial shards of a run: ``grid`` (every shift up to ``exhaustive_max_jitter``, if > 0)
    and ``s<seed>`` (random shifts) per seed. The workflow and the benchmark both use this plan."""
    return (["grid"] if exhaustive_max_jitter > 0 else []) + [f"s{seed}" for seed in seeds]


def trial_rng(seed: int, kind: str, jitter: int) -> np.random.Generator:
    """The random stream of one input kind and jitter in shard ``s<seed>``.

    Keyed by the input's name (a CRC-32 of it), not its position in the config, so that
    adding or reordering inputs leaves every other input's trials unchanged.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=[zlib.crc32(kind.encode()), int(jitter)]))


@dataclass(frozen=True)
class _Draw:
    """The trials of one input and jitter: mode, seed, shifts, and the dataset image of each."""

    mode: str
    seed: int
    dx: np.ndarray
    dy: np.ndarray
    image_index: np.ndarray  # all zero for a synthetic input


def _draw(shard: str, kind: str, jitter: int, settings: TrialSettings, n_images: int) -> _Draw:
    if shard == "grid":
        dx, dy = grid_shifts(jitter)
        if kind != "dataset":
            return _Draw("grid", -1, dx, dy, np.zeros(len(dx), dtype=np.int64))
        return _Draw("grid", -1, np.tile(dx, n_images), np.tile(dy, n_images), np.repeat(np.arange(n_images), len(dx)))
    seed = int(shard.removeprefix("s"))
    rng = trial_rng(seed, kind, jitter)
    dx, dy = random_shifts(rng, jitter, settings.trials_per_jitter)
    index = rng.integers(0, n_images, size=len(dx)) if kind == "dataset" else np.zeros(len(dx), dtype=np.int64)
    return _Draw("random", seed, dx, dy, index)


def _trial_frame(
    draw: _Draw, metrics: dict[str, np.ndarray], inverse: np.ndarray, poolings: Sequence[str]
) -> pd.DataFrame:
    """Rows (pooling, depth, trial) of one input, jitter and fill; ``inverse`` maps trials to computed cases."""
    n_pool, max_depth, _ = next(iter(metrics.values())).shape
    n = len(inverse)
    columns = {
        "trial": np.tile(np.arange(n), n_pool * max_depth),
        "dx": np.tile(draw.dx, n_pool * max_depth),
        "dy": np.tile(draw.dy, n_pool * max_depth),
        "pooling": np.repeat(np.asarray(poolings, dtype=object), max_depth * n),
        "depth": np.tile(np.repeat(np.arange(1, max_depth + 1), n), n_pool),
    }
    columns.update({name: values[:, :, inverse].reshape(-1) for name, values in metrics.items()})
    return pd.DataFrame(columns)


def run_shard(
    shard: str,
    settings: TrialSettings,
    *,
    dataset_images: np.ndarray | None = None,
    dataset_ids: Sequence[str] = (),
) -> pd.DataFrame:
    """All trials of one shard: ``grid`` (every shift for small jitters) or ``s<seed>`` (random).

    Dataset images (grayscale, float in [0, 1]) are drawn per trial at random,
    or, on the grid, each one takes every shift. Every fill sees the same shifts. A trial's
    outcome depends only on its image and shift, so each distinct (image, shift) is computed once.
    """
    unknown = sorted(set(settings.inputs) - set(INPUTS))
    if unknown:
        raise UserError(f"invariance.inputs: unknown input(s) {', '.join(unknown)}; allowed: {', '.join(INPUTS)}")
    if "dataset" in settings.inputs and (dataset_images is None or len(dataset_images) == 0):
        raise UserError("invariance.inputs holds 'dataset' but no dataset images were given (--manifest)")
    if dataset_images is not None and len(dataset_ids) != len(dataset_images):
        raise UserError("the dataset input needs one image id per dataset image")
    frames = []
    for kind in settings.inputs:
        images = _input_stack(kind, settings, dataset_images)
        ids = np.asarray(dataset_ids if kind == "dataset" else [kind], dtype=object)
        for jitter in settings.jitters:
            if shard == "grid" and jitter > settings.exhaustive_max_jitter:
                continue
            draw = _draw(shard, kind, jitter, settings, len(images))
            cases, inverse = np.unique(
                np.stack([draw.image_index, draw.dy, draw.dx], axis=1), axis=0, return_inverse=True
            )
            base = images[0] if kind != "dataset" else images[cases[:, 0]]
            for fill in settings.fills:
                metrics = pooled_metrics(
                    base, cases[:, 2], cases[:, 1], poolings=settings.poolings, max_depth=settings.max_depth, fill=fill
                )
                table = _trial_frame(draw, metrics, inverse.reshape(-1), settings.poolings)
                table["image_id"] = ids[draw.image_index][table["trial"].to_numpy()]
                table = table.assign(input=kind, mode=draw.mode, seed=draw.seed, jitter=int(jitter), fill=fill)
                frames.append(table)
    return pd.concat(frames, ignore_index=True)[TRIAL_COLUMNS]


# --------------------------------------------------------------------------- summaries
def shift_size(trials: pd.DataFrame) -> pd.Series:
    """Chebyshev size of each trial's shift, ``max(|dx|, |dy|)``."""
    return np.maximum(trials["dx"].abs(), trials["dy"].abs()).rename("shift")


def trial_sums(trials: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Sufficient statistics of every trial metric per group (see :func:`poolkit.stats.group_sums`)."""
    return stats.group_sums(trials, by, [*SHARE_METRICS, *MEAN_METRICS])


def summarise_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """Shares (Wilson score intervals) and means (t intervals) with 95% intervals per group."""
    return stats.summarise_sums(
        sums, {m: f"{m}_share" for m in SHARE_METRICS}, {m: m for m in MEAN_METRICS}, count="n_trials"
    )


# --------------------------------------------------------------------------- the stage's summaries
#: Groups of the summary by shift size (random trials of every jitter): ``shift = max(|dx|, |dy|)``.
SHIFT_GROUP = ["input", "fill", "pooling", "depth", "shift"]
#: The ``interval_method`` of a summary row: how its values and 95% intervals were made.
INTERVAL_METHODS = {
    "exact": "a synthetic input with every shift enumerated (the grid): the value over all of them, no interval",
    "wilson_t": "trials of one fixed image as independent draws: Wilson intervals for shares, t for means",
    "image_clustered": "dataset images as clusters of trials: Korn–Graubard intervals for shares, t for means "
    "(variance between images, images − 1 degrees of freedom)",
}


def per_image_sums(trials: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`trial_sums` per group of ``by`` and image (``image_id``): what every interval needs."""
    return trial_sums(trials, [*by, "image_id"])


def exact_by_jitter(grid: pd.DataFrame) -> pd.DataFrame:
    """Exact values per (input, fill, jitter, pooling, depth) of grid trials of synthetic inputs
    (one fixed image, every shift of the (2J+1)² square once): each share and mean over all shifts
    alike (what uniform random trials estimate), ``{metric}_course_share`` under the course's
    ``random_transform`` (:func:`exact_shares`), and ``n_shifts``."""
    keys = ["input", "fill", "jitter", "pooling", "depth"]
    rows = []
    for key, part in grid.groupby(keys, sort=True, observed=True):
        jitter = int(part["jitter"].iloc[0])
        dx, dy = part["dx"].to_numpy(), part["dy"].to_numpy()
        row: dict[str, Any] = dict(zip(keys, key, strict=True)) | {"n_shifts": (2 * jitter + 1) ** 2}
        for metric in SHARE_METRICS:
            course, uniform = exact_shares(grid_outcome(dx, dy, part[metric].to_numpy(), jitter))
            row[f"{metric}_share"], row[f"{metric}_course_share"] = uniform, course
        for metric in MEAN_METRICS:
            row[metric] = float(grid_outcome(dx, dy, part[metric].to_numpy(), jitter).mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index(keys) if rows else pd.DataFrame()


def exact_by_shift(grid: pd.DataFrame) -> pd.DataFrame:
    """Exact values per (input, fill, pooling, depth, shift size) from grid trials of synthetic inputs:
    each share and mean over every shift of that Chebyshev size (8s of them, 1 for no shift), taken
    from the largest grid. Random trials of any jitter >= s, given their size is s, are uniform on
    exactly these shifts, so this is what the random trials of that size estimate."""
    keys = ["input", "fill", "pooling", "depth"]
    rows = []
    for key, part in grid.groupby(keys, sort=True, observed=True):
        jitter = int(part["jitter"].max())
        part = part[part["jitter"] == jitter]
        dx, dy = part["dx"].to_numpy(), part["dy"].to_numpy()
        axis = np.abs(np.arange(-jitter, jitter + 1))
        size = np.maximum(axis[:, None], axis[None, :])
        grids = {m: grid_outcome(dx, dy, part[m].to_numpy(), jitter) for m in [*SHARE_METRICS, *MEAN_METRICS]}
        for shift in range(jitter + 1):
            mask = size == shift
            row: dict[str, Any] = dict(zip(keys, key, strict=True)) | {"shift": shift, "n_shifts": int(mask.sum())}
            for metric, values in grids.items():
                row[f"{metric}_share" if metric in SHARE_METRICS else metric] = float(values[mask].mean())
            rows.append(row)
    return pd.DataFrame(rows).set_index(SHIFT_GROUP) if rows else pd.DataFrame()


def summarise_trials(
    per_image: pd.DataFrame,
    by: Sequence[str],
    exact: pd.DataFrame | None = None,
    *,
    course: bool = False,
) -> pd.DataFrame:
    """One row per group of ``by``: the trials' shares and means with 95% intervals made as each
    group's design allows, named in ``interval_method`` (see :data:`INTERVAL_METHODS`).

    ``per_image``: :func:`per_image_sums` (index ``by`` + ``image_id``). Synthetic inputs: Wilson
    and t intervals; the ``dataset`` input: its trials are clustered by image, so its intervals take
    the images as the sampling units (:func:`poolkit.stats.clustered_share_interval`,
    :func:`poolkit.stats.clustered_mean_interval`). Rows of synthetic inputs whose key (without
    ``mode``) is in ``exact`` (:func:`exact_by_jitter`, :func:`exact_by_shift`) take its exact values instead, with
    ``_lo = _hi`` = the value and ``n_shifts``. ``course``: add ``{metric}_course_share`` columns
    (exact rows only). Columns: ``by``, ``interval_method``, ``n_trials``, ``n_images``,
    ``n_shifts``, then each share (``_share``, ``_lo``, ``_hi``, and its course share), then each mean.
    """
    by = list(by)
    out = summarise_sums(stats.collapse_sums(per_image, by))
    for column in by:  # plain keys (no categoricals): lookups and output alike
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object)
    out["n_images"] = per_image.groupby(level=by, sort=True, observed=True).size().to_numpy()
    out["interval_method"] = np.where(out["input"] == "dataset", "image_clustered", "wilson_t")
    out["n_shifts"] = pd.array([pd.NA] * len(out), dtype="Int64")
    values = [*(f"{m}_share" for m in SHARE_METRICS), *MEAN_METRICS]
    position = {key: i for i, key in enumerate(out[by].itertuples(index=False, name=None))}
    lows, highs = out[[f"{v}_lo" for v in values]].to_numpy(), out[[f"{v}_hi" for v in values]].to_numpy()
    clustered = per_image[per_image.index.get_level_values("input") == "dataset"]
    for key, part in clustered.groupby(level=by, sort=True, observed=True):
        row = position[key]
        lows[row], highs[row] = clustered_intervals(part)
    out[[f"{v}_lo" for v in values]], out[[f"{v}_hi" for v in values]] = lows, highs
    courses = [f"{m}_course_share" for m in SHARE_METRICS] if course else []
    for column in courses:
        out[column] = np.nan
    if exact is not None and not exact.empty:
        keys = list(exact.index.names)
        found = exact.index.get_indexer(pd.MultiIndex.from_frame(out[keys]))
        rows = (found >= 0) & (out["input"] != "dataset").to_numpy()
        matched = exact.iloc[found[rows]]
        for value in values:
            column = matched[value].to_numpy()
            out.loc[rows, value] = out.loc[rows, f"{value}_lo"] = out.loc[rows, f"{value}_hi"] = column
        for column in courses:
            out.loc[rows, column] = matched[column].to_numpy()
        out.loc[rows, "n_shifts"] = matched["n_shifts"].to_numpy()
        out.loc[rows, "interval_method"] = "exact"
    shares = [
        column
        for m in SHARE_METRICS
        for column in (f"{m}_share", f"{m}_share_lo", f"{m}_share_hi", *([f"{m}_course_share"] if course else []))
    ]
    means = [column for m in MEAN_METRICS for column in (m, f"{m}_lo", f"{m}_hi")]
    order = [*by, "interval_method", "n_trials", "n_images", "n_shifts", *shares, *means]
    return out[order]


def clustered_intervals(per_image: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of every share, then every mean, of one group's :func:`per_image_sums`
    (images as clusters): Korn–Graubard for shares, t for means."""
    counts = per_image["n"].to_numpy()
    shares = stats.clustered_share_interval(counts, per_image[[f"{m}:sum" for m in SHARE_METRICS]].to_numpy())
    means = stats.clustered_mean_interval(counts, per_image[[f"{m}:sum" for m in MEAN_METRICS]].to_numpy())
    return np.concatenate([shares[1], means[1]]), np.concatenate([shares[2], means[2]])


#: Columns of the trial shards that the summaries read.
SUMMARY_COLUMNS = [
    "input",
    "mode",
    "fill",
    "jitter",
    "dx",
    "dy",
    "pooling",
    "depth",
    "image_id",
    *SHARE_METRICS,
    *MEAN_METRICS,
]


def summarise_shards(paths: Sequence[str], batch_rows: int = 1 << 16) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage's summaries by jitter and by shift size, from the trial shards at ``paths``.

    The shards are read in batches of rows, each reduced to sums per group and image (memory of one
    batch); the grid trials of synthetic inputs (one row per shift, a few thousand) are kept whole for
    the exact values."""
    by_jitter, by_shift, grids = [], [], []
    for path in sorted(paths):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=SUMMARY_COLUMNS):
            trials = batch.to_pandas(strings_to_categorical=True)
            by_jitter.append(per_image_sums(trials, TRIAL_GROUP))
            random = trials[trials["mode"] == "random"]
            by_shift.append(per_image_sums(random.assign(shift=shift_size(random)), SHIFT_GROUP))
            grid = trials[(trials["mode"] == "grid") & (trials["input"] != "dataset")]
            grids.append(grid.astype({c: str for c in ("input", "mode", "fill", "pooling")}))
    grid = pd.concat(grids, ignore_index=True)
    return (
        summarise_trials(stats.combine_sums(by_jitter), TRIAL_GROUP, exact_by_jitter(grid), course=True),
        summarise_trials(stats.combine_sums(by_shift), SHIFT_GROUP, exact_by_shift(grid)),
    )


def shown_jitter(summary: pd.DataFrame, wanted: int) -> int:
    """The jitter the figures, tables and findings show: ``wanted`` (the exercise's) if it was run,
    else the smallest random one."""
    jitters = set(summary.loc[summary["mode"] == "random", "jitter"])
    return wanted if wanted in jitters else int(min(jitters))


# --------------------------------------------------------------------------- exact shares
def course_shift_probabilities(jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer shifts ``-jitter..jitter`` and their probabilities, per axis, under the course's
    ``random_transform(image, jitter)``.

    Derivation: the helper draws ``t`` uniformly from ``[-j, j]`` (continuous) and samples the
    source pixel ``index ± t`` rounded to the nearest integer (``tf.round``). The output index is
    an integer, so the pixel moves by ``k = round(t)``; half-integers have probability zero, so
    the rounding of ties does not matter. Hence ``P(k) = |[k - 1/2, k + 1/2] ∩ [-j, j]| / (2j)``:
    ``1/(2j)`` for ``|k| < j`` and ``1/(4j)`` for ``|k| = j`` (j = 3: 1/6 and 1/12); ``P(0) = 1``
    for ``j = 0``. The distribution is symmetric, so the helper's sign convention does not matter.
    """
    if jitter < 0 or int(jitter) != jitter:
        raise ValueError(f"jitter must be a non-negative integer, got {jitter}")
    shifts = np.arange(-jitter, jitter + 1)
    if jitter == 0:
        return shifts, np.ones(1)
    overlap = np.minimum(shifts + 0.5, jitter) - np.maximum(shifts - 0.5, -jitter)
    return shifts, overlap / (2 * jitter)


def grid_outcome(dx: np.ndarray, dy: np.ndarray, outcome: np.ndarray, jitter: int) -> np.ndarray:
    """Mean outcome per shift as a (2j+1)² array indexed ``[dy + j, dx + j]``; every shift with
    ``|dx|, |dy| <= jitter`` must occur (several rows per shift, e.g. one per image, are averaged)."""
    dx, dy = np.asarray(dx, dtype=np.int64), np.asarray(dy, dtype=np.int64)
    if (np.abs(dx) > jitter).any() or (np.abs(dy) > jitter).any():
        raise ValueError(f"a shift lies outside the ±{jitter} grid")
    side = 2 * jitter + 1
    cell = (dy + jitter) * side + (dx + jitter)
    counts = np.bincount(cell, minlength=side * side)
    if (counts == 0).any():
        raise ValueError(f"the grid lacks {int((counts == 0).sum())} of the {side * side} shifts for jitter {jitter}")
    sums = np.bincount(cell, weights=np.asarray(outcome, dtype=np.float64), minlength=side * side)
    return (sums / counts).reshape(side, side)


def exact_shares(grid: np.ndarray) -> tuple[float, float]:
    """``(course, uniform)`` shares of a (2j+1)² outcome grid from :func:`grid_outcome`: weighted by
    the course's shift probabilities ``p(dy) p(dx)``, and unweighted (every integer shift alike)."""
    jitter = (len(grid) - 1) // 2
    _, p = course_shift_probabilities(jitter)
    return float(p @ grid @ p), float(grid.mean())


def exact_grid_shares(trials: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] = SHARE_METRICS) -> pd.DataFrame:
    """Exact shares from exhaustive grid trials, one row per group of ``by`` and metric.

    Groups are taken within each ``jitter`` (added to ``by`` if missing). Columns: ``by``,
    ``metric``, ``share_course`` (the course's ``random_transform`` distribution),
    ``share_uniform`` (all (2j+1)² shifts alike), ``n_shifts``, ``n_trials``. No interval:
    these are the exact values, not estimates.
    """
    keys = [*by, *([] if "jitter" in by else ["jitter"])]
    rows = []
    for group, part in trials.groupby(keys, sort=True):
        jitter = int(part["jitter"].iloc[0])
        for metric in metrics:
            grid = grid_outcome(part["dx"].to_numpy(), part["dy"].to_numpy(), part[metric].to_numpy(), jitter)
            course, uniform = exact_shares(grid)
            rows.append((*group, metric, course, uniform, grid.size, len(part)))
    return pd.DataFrame(rows, columns=[*keys, "metric", "share_course", "share_uniform", "n_shifts", "n_trials"])
