"""Network-level shift-consistency protocols: pairs of shifted copies of each image (pure NumPy).

- ``crop`` (Zhang, ICML 2019; adobe/antialiased-cnns ``validate_shift``): each image is resized
  once to ``resize_to`` (a step of the image loader, before these functions), then two ``crop`` px
  crops are taken at offsets drawn independently per copy and per axis, uniformly in ``0..s-1``
  with ``s = min(max_shift, resize_to - crop)``, as Zhang's ``np.random.randint(32)`` draws them
  (256 → 224: offsets 0..31, 5 passes; the last position, 32, is never drawn). Every crop lies
  inside the resized image: no filled pixels.
- ``circular`` (APS, Chaman & Dokmanić, CVPR 2021): two copies circularly rolled (``np.roll``)
  by offsets drawn independently per copy and per axis, uniformly in ``-s..s-1``, as the APS
  code's ``np.random.randint(-32, 32)`` draws them.

A protocol first draws a pair table (:data:`PAIR_COLUMNS`, one row per image and pass), then
:func:`pair_copies` materialises the copies of any subset of its rows (chunk large sets).
Consistency is the share of rows whose two copies get the same predicted class.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .io import UserError
from .settings import StageSettings, given_field

PROTOCOLS: tuple[str, ...] = ("crop", "circular")
#: ``image``: row in the images array; ``a_y, a_x, b_y, b_x``: offsets of copies a and b (crop:
#: top-left corner; circular: roll, positive moves content down/right); ``dy, dx``: b − a;
#: ``offset_max``: the bound s actually drawn with (crop: ``max_shift`` clipped to resize_to − crop,
#: offsets 0..s−1; circular: ``max_shift``, offsets −s..s−1);
#: ``same_offset``: both copies identical by construction.
PAIR_COLUMNS = [
    "protocol",
    "max_shift",
    "offset_max",
    "pass",
    "image",
    "a_y",
    "a_x",
    "b_y",
    "b_x",
    "dy",
    "dx",
    "same_offset",
]


def crop_offset_max(max_shift: int, *, resize_to: int, crop: int) -> int:
    """The crop protocol's bound s, offsets 0..s−1: ``max_shift`` clipped to ``resize_to - crop``."""
    if not 0 < crop < resize_to:
        raise ValueError(f"crop size {crop} must be positive and smaller than resize_to {resize_to}")
    _check_max_shift(max_shift)
    return min(int(max_shift), resize_to - crop)


def _check_max_shift(max_shift: int) -> None:
    """A bound s >= 1: offsets 0..s−1 and −s..s−1 hold at least one value."""
    if max_shift < 1:
        raise ValueError(f"max_shift must be at least 1, got {max_shift}")


def centre_offset(*, resize_to: int, crop: int) -> int:
    """Offset of the centre crop on both axes: ``(resize_to - crop) // 2``."""
    if not 0 < crop <= resize_to:
        raise ValueError(f"crop size {crop} must be positive and at most resize_to {resize_to}")
    return (resize_to - crop) // 2


def _pair_table(protocol: str, max_shift: int, offset_max: int, offsets: np.ndarray) -> pd.DataFrame:
    """The pair table from drawn offsets of shape (passes, n_images, 4): a_y, a_x, b_y, b_x."""
    passes, n_images, _ = offsets.shape
    flat = offsets.reshape(-1, 4).astype(np.int64)
    table = pd.DataFrame(flat, columns=["a_y", "a_x", "b_y", "b_x"])
    table.insert(0, "image", np.tile(np.arange(n_images), passes))
    table.insert(0, "pass", np.repeat(np.arange(passes), n_images))
    table.insert(0, "offset_max", offset_max)
    table.insert(0, "max_shift", int(max_shift))
    table.insert(0, "protocol", protocol)
    table["dy"], table["dx"] = table["b_y"] - table["a_y"], table["b_x"] - table["a_x"]
    table["same_offset"] = (table["dy"] == 0) & (table["dx"] == 0)
    return table[PAIR_COLUMNS]


def crop_pairs(
    n_images: int, *, max_shift: int, passes: int, resize_to: int, crop: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Zhang's crop protocol: per pass and image, two crop offsets, each axis uniform in 0..s−1
    (``s`` = :func:`crop_offset_max`; Zhang's ``randint(32)``), independent per copy and axis."""
    high = crop_offset_max(max_shift, resize_to=resize_to, crop=crop)
    offsets = rng.integers(0, high, size=(passes, n_images, 4))
    return _pair_table("crop", max_shift, high, offsets)


def circular_pairs(n_images: int, *, max_shift: int, passes: int, rng: np.random.Generator) -> pd.DataFrame:
    """APS's circular protocol: per pass and image, two rolls, each axis uniform in −s..s−1 (the
    APS code's ``randint(-s, s)``), independent per copy and axis."""
    _check_max_shift(max_shift)
    offsets = rng.integers(-max_shift, max_shift, size=(passes, n_images, 4))
    return _pair_table("circular", max_shift, int(max_shift), offsets)


def crops(images: np.ndarray, image: np.ndarray, oy: np.ndarray, ox: np.ndarray, crop: int) -> np.ndarray:
    """``images[image[k], oy[k]:oy[k]+crop, ox[k]:ox[k]+crop]`` for every k; images (n, H, W[, C])."""
    oy, ox = np.asarray(oy), np.asarray(ox)
    height, width = images.shape[1:3]
    if (oy < 0).any() or (ox < 0).any() or (oy + crop > height).any() or (ox + crop > width).any():
        raise ValueError(f"a {crop} px crop at these offsets leaves the {height}×{width} images")
    rows = oy[:, None] + np.arange(crop)
    cols = ox[:, None] + np.arange(crop)
    return images[np.asarray(image)[:, None, None], rows[:, :, None], cols[:, None, :]]


def rolls(images: np.ndarray, image: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """``np.roll(images[image[k]], (dy[k], dx[k]), axis=(0, 1))`` for every k; images (n, H, W[, C])."""
    height, width = images.shape[1:3]
    rows = (np.arange(height) - np.asarray(dy)[:, None]) % height
    cols = (np.arange(width) - np.asarray(dx)[:, None]) % width
    return images[np.asarray(image)[:, None, None], rows[:, :, None], cols[:, None, :]]


def pair_copies(images: np.ndarray, pairs: pd.DataFrame, crop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Copies a and b of the rows of one protocol's pair table; ``crop`` (px) for the crop protocol.

    ``images``: the images ``pairs.image`` indexes, (n, H, W[, C]); at ``resize_to`` for ``crop``.
    """
    kinds = set(pairs["protocol"])
    if len(kinds) > 1:
        raise ValueError(f"pair_copies takes the rows of one protocol, got {sorted(kinds)}")
    image = pairs["image"].to_numpy()
    a_y, a_x, b_y, b_x = (pairs[c].to_numpy() for c in ("a_y", "a_x", "b_y", "b_x"))
    if kinds == {"circular"}:
        return rolls(images, image, a_y, a_x), rolls(images, image, b_y, b_x)
    if crop is None:
        raise ValueError("the crop protocol needs the crop size")
    return crops(images, image, a_y, a_x, crop), crops(images, image, b_y, b_x, crop)


def centre_crops(images: np.ndarray, crop: int) -> np.ndarray:
    """The centre ``crop`` px square of each (square) image, offset ``(side - crop) // 2``."""
    offset = centre_offset(resize_to=images.shape[1], crop=crop)
    if images.shape[2] != images.shape[1]:
        raise ValueError(f"centre crops need square images, got {images.shape[1]}×{images.shape[2]}")
    return images[:, offset : offset + crop, offset : offset + crop]


# --------------------------------------------------------------------------- the study's plan
@dataclass(frozen=True, kw_only=True)
class NetworkSettings(StageSettings):
    """The pair plan of the network stage: the config's ``invariance.network`` section (but
    ``variants``, one per job, ``shards`` and ``worst_shift``), plus the crop size ``crop``
    (``features.image_size``, which the stage also takes as the model's image size)."""

    SECTION = "invariance.network"

    protocols: Sequence[str]
    max_shifts: Sequence[int]
    resize_to: int
    passes: int
    n_images: int
    seed: int
    crop: int = given_field()

    def __post_init__(self) -> None:
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown:
            allowed = ", ".join(PROTOCOLS)
            raise UserError(
                f"invariance.network.protocols: unknown protocol(s) {', '.join(unknown)}; allowed: {allowed}"
            )
        if self.resize_to <= self.crop:
            raise UserError(
                f"invariance.network.resize_to ({self.resize_to}) must be larger than features.image_size "
                f"({self.crop}): the crop protocol draws offsets 0..resize_to − image_size − 1"
            )


def pair_rng(seed: int, protocol: str, max_shift: int) -> np.random.Generator:
    """The random stream of one protocol and max shift (keyed by name, not by position in the config)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=[zlib.crc32(protocol.encode()), max_shift]))


def pair_plan(n_images: int, settings: NetworkSettings) -> pd.DataFrame:
    """Every pair of copies of the study: protocol × max shift × pass × image (:data:`PAIR_COLUMNS`).
    The same for every base variant (seeded by protocol and max shift only): variants are compared
    on the very same pairs."""
    tables = []
    for protocol in settings.protocols:
        for max_shift in settings.max_shifts:
            rng = pair_rng(settings.seed, protocol, int(max_shift))
            if protocol == "crop":
                table = crop_pairs(
                    n_images,
                    max_shift=int(max_shift),
                    passes=settings.passes,
                    resize_to=settings.resize_to,
                    crop=settings.crop,
                    rng=rng,
                )
            else:
                table = circular_pairs(n_images, max_shift=int(max_shift), passes=settings.passes, rng=rng)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------- the copies to score
#: One row per image the network stage scores besides the whole images: ``source`` (``crop``: cut
#: from the image resized to ``resize_to``; ``circular``: rolled at the crop size), ``image`` (row in
#: the sampled images), ``oy, ox`` (crop offset or roll), ``pair`` (row in the pair plan; −1 for a
#: centre crop), ``copy`` (``a``, ``b`` or ``centre``).
COPY_COLUMNS = ["source", "image", "oy", "ox", "pair", "copy"]


def copy_plan(pairs: pd.DataFrame, n_images: int, *, resize_to: int, crop: int) -> pd.DataFrame:
    """Every copy the network stage scores, in its one global order (:data:`COPY_COLUMNS`): per
    protocol (in the plan's order) copy a of each of its pairs, then copy b, then each sampled image's
    centre crop. It depends only on the pair plan, never on how the work is split into jobs: a shard
    scores a range of it cut at whole batches, so every copy meets the same batch in any split."""
    pieces = []
    for protocol, rows in pairs.groupby("protocol", sort=False):
        for copy in ("a", "b"):
            pieces.append(
                pd.DataFrame(
                    {
                        "source": protocol,
                        "image": rows["image"].to_numpy(),
                        "oy": rows[f"{copy}_y"].to_numpy(),
                        "ox": rows[f"{copy}_x"].to_numpy(),
                        "pair": rows.index.to_numpy(),
                        "copy": copy,
                    }
                )
            )
    offset = centre_offset(resize_to=resize_to, crop=crop)
    pieces.append(
        pd.DataFrame(
            {"source": "crop", "image": np.arange(n_images), "oy": offset, "ox": offset, "pair": -1, "copy": "centre"}
        )
    )
    plan = pd.concat(pieces, ignore_index=True)
    return plan.astype({"image": np.int64, "oy": np.int64, "ox": np.int64, "pair": np.int64})[COPY_COLUMNS]


#: The copies table's columns before the scores: the pair plan's without ``image``, which names the
#: image instead, and which copy of the pair the row holds.
COPY_TABLE_COLUMNS = ["variant", "image_id", "label", *(c for c in PAIR_COLUMNS if c != "image"), "copy"]


def copy_tables(
    plan: pd.DataFrame, rows: pd.DataFrame, chosen: pd.DataFrame, scores: pd.DataFrame, variant: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored copies ``rows`` of :func:`copy_plan` (``scores``: one row each, in order) as two
    tables naming variant and image: the pair copies (the pair plan's columns) and the centre crops.
    ``chosen``: the sampled images (``image_id``, ``label``) the plan's ``image`` numbers."""
    is_pair = (rows["copy"] != "centre").to_numpy()
    pair_rows = rows[is_pair]
    table = plan.loc[pair_rows["pair"]].reset_index(drop=True).assign(copy=pair_rows["copy"].to_numpy())
    table["variant"] = variant
    table["image_id"] = chosen["image_id"].to_numpy()[table["image"]]
    table["label"] = chosen["label"].to_numpy()[table["image"]]
    copies = pd.concat([table[COPY_TABLE_COLUMNS], scores[is_pair].reset_index(drop=True)], axis=1)
    centre_images = rows.loc[~is_pair, "image"].to_numpy()
    centre = pd.DataFrame(
        {
            "variant": variant,
            "image_id": chosen["image_id"].to_numpy()[centre_images],
            "label": chosen["label"].to_numpy()[centre_images],
        }
    )
    return copies, pd.concat([centre, scores[~is_pair].reset_index(drop=True)], axis=1)


def plan_copies(plan: pd.DataFrame, images: dict[str, np.ndarray], crop: int) -> np.ndarray:
    """The copies of rows of :func:`copy_plan`, in their order, as one uint8 stack; ``images``: the
    sampled images by source (``crop``: at ``resize_to``; ``circular``: at ``crop`` px)."""
    shape = (len(plan), crop, crop, *images["circular"].shape[3:])
    out = np.zeros(shape, dtype=images["circular"].dtype)
    for source, rows in plan.groupby("source", sort=False):
        at = np.flatnonzero((plan["source"] == source).to_numpy())
        image, oy, ox = (rows[c].to_numpy() for c in ("image", "oy", "ox"))
        if source == "circular":
            out[at] = rolls(images["circular"], image, oy, ox)
        else:
            out[at] = crops(images["crop"], image, oy, ox, crop)
    return out
