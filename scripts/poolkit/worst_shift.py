"""The worst shift (issue 31): whether *any* small integer shift changes the class the whole network
(VGG16 base variant + GAP + its refitted head) gives an image, not only a random pair of copies.

Every shift ``(dy, dx)`` with both components in ``−s..s−1`` (``s`` = ``max_shift``; the range the
circular protocol of :mod:`poolkit.protocols` draws from, ``(2s)²`` shifts, the unshifted copy among
them) is enumerated for each sampled image, under both protocols:

- ``circular``: the image at ``features.image_size`` rolled by ``(dy, dx)`` (``np.roll``); the
  reference is roll ``(0, 0)``, the image itself. An APS network with circular padding
  (``aps_circular``) gives every roll the same GAP scores up to rounding, so it is never fooled.
- ``crop``: the image resized once to ``resize_to``, the ``features.image_size`` crop at offset
  ``(c + dy, c + dx)`` with ``c = (resize_to − image_size) // 2``: the reference is the centre crop
  (the usual single-crop test view, and the copy the network stage's ``centre_accuracy`` scores),
  and the shifts run both ways from it, as the circular ones do. It needs ``s <= c`` and
  ``c + s − 1 <= resize_to − image_size`` (:func:`check_crop_room`). No copy holds a filled pixel.

Because the reference is one of the enumerated copies, "some shift changes the class against the
reference" is "the copies do not all get one class": an image is *fooled* in either reading.
Per variant and protocol the summary gives the share of images fooled by at least one shift (exact
Clopper–Pearson interval: one independent observation per image), the share of the ``(2s)² − 1``
shifted copies whose class differs from the reference's (Korn–Graubard interval over images, whose
shifts are not independent) and the mean over images of the largest ``|ΔP(truck)|`` (t interval).

Cost: ``(2s)²`` VGG16 passes per image and protocol, against ``n_images × passes × len(max_shifts) × 2``
for one consistency protocol (:func:`consistency_passes`, :func:`worst_shift_passes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .io import UserError
from .protocols import PROTOCOLS, centre_offset, crops, rolls
from .settings import StageSettings, config_field, given_field
from .stats import clopper_pearson, clustered_mean_interval, clustered_share_interval

#: One row per copy: ``image`` (row in the images array), the protocol, ``max_shift`` s, the shift
#: ``dy, dx`` (circular: the roll, positive moves content down/right; crop: the offset from the
#: centre crop's) and whether the copy is the reference (``dy = dx = 0``).
PLAN_COLUMNS = ["protocol", "max_shift", "image", "dy", "dx", "reference"]

#: The summary table's columns (results/<run>/network/worst_shift.tsv).
SUMMARY_COLUMNS = [
    "variant",
    "protocol",
    "max_shift",
    "n_images",
    "n_shifts",
    "n_fooled",
    "fooled_share",
    "fooled_share_lo",
    "fooled_share_hi",
    "changed_share",
    "changed_share_lo",
    "changed_share_hi",
    "worst_dp",
    "worst_dp_lo",
    "worst_dp_hi",
]


def shift_grid(max_shift: int) -> np.ndarray:
    """Every shift ``(dy, dx)``, both in ``−s..s−1``, row-major: ``(2s)²`` rows of 2, ``(0, 0)`` among them."""
    if max_shift < 1:
        raise ValueError(f"max_shift must be at least 1, got {max_shift}")
    values = np.arange(-max_shift, max_shift)
    dy, dx = np.meshgrid(values, values, indexing="ij")
    return np.stack([dy.ravel(), dx.ravel()], axis=1)


def n_shifted(max_shift: int) -> int:
    """Shifted copies per image and protocol, the reference left out: ``(2s)² − 1``."""
    return (2 * max_shift) ** 2 - 1


def crop_room_problem(max_shift: int, *, resize_to: int, crop: int) -> str | None:
    """Why the crop protocol cannot shift the centre crop by ``−s..s−1`` inside the resized image
    (None when it can): offsets ``c − s .. c + s − 1`` with ``c = (resize_to − crop) // 2`` must lie in
    ``0 .. resize_to − crop``."""
    room = resize_to - crop
    centre = centre_offset(resize_to=resize_to, crop=crop)
    if max_shift > centre or centre + max_shift - 1 > room:  # room − centre >= centre: the first binds
        return (
            f"{max_shift} moves the centre crop (offset {centre}) out of the {resize_to} px image; at most "
            f"(resize_to − features.image_size) // 2 = {centre} with resize_to {resize_to} and {crop} px crops"
        )
    return None


def check_crop_room(max_shift: int, *, resize_to: int, crop: int) -> None:
    """Raise a UserError where :func:`crop_room_problem` finds one."""
    if problem := crop_room_problem(max_shift, resize_to=resize_to, crop=crop):
        raise UserError(f"invariance.network.worst_shift.max_shift: {problem}")


@dataclass(frozen=True, kw_only=True)
class WorstShiftSettings(StageSettings):
    """What the worst-shift stage scores: the config's ``invariance.network.worst_shift`` section, the
    protocols, resize size and sample seed of ``invariance.network`` (so the same images and resized
    copies as the consistency pairs), plus the crop size ``crop`` (``features.image_size``, which the
    stage also takes as the model's image size). The crop protocol's room is checked on creation."""

    SECTION = "invariance.network.worst_shift"

    max_shift: int
    n_images: int
    protocols: Sequence[str] = config_field("invariance.network.protocols")
    resize_to: int = config_field("invariance.network.resize_to")
    seed: int = config_field("invariance.network.seed")
    crop: int = given_field()

    def __post_init__(self) -> None:
        if "crop" in self.protocols:
            check_crop_room(self.max_shift, resize_to=self.resize_to, crop=self.crop)


def worst_shift_plan(n_images: int, protocols: Sequence[str], max_shift: int) -> pd.DataFrame:
    """Every copy to score: protocol × image × shift (:data:`PLAN_COLUMNS`), images in order,
    the shifts of :func:`shift_grid` within each image."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise UserError(f"invariance.network.protocols: unknown protocol {', '.join(unknown)}")
    grid = shift_grid(max_shift)
    tables = []
    for protocol in protocols:
        table = pd.DataFrame(
            {
                "protocol": protocol,
                "max_shift": int(max_shift),
                "image": np.repeat(np.arange(n_images), len(grid)),
                "dy": np.tile(grid[:, 0], n_images),
                "dx": np.tile(grid[:, 1], n_images),
            }
        )
        table["reference"] = (table["dy"] == 0) & (table["dx"] == 0)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)[PLAN_COLUMNS]


def shifted_copies(images: np.ndarray, plan: pd.DataFrame, crop: int | None = None) -> np.ndarray:
    """The copies of the rows of one protocol's plan, as one uint8 stack.

    ``images`` (n, H, W[, C]): for ``crop`` resized to ``resize_to`` (``crop`` px crops at the centre
    offset plus the shift), for ``circular`` at the crop size (rolled by the shift)."""
    kinds = set(plan["protocol"])
    if len(kinds) > 1:
        raise ValueError(f"shifted_copies takes the rows of one protocol, got {sorted(kinds)}")
    image, dy, dx = (plan[c].to_numpy() for c in ("image", "dy", "dx"))
    if kinds == {"circular"}:
        return rolls(images, image, dy, dx)
    if crop is None:
        raise ValueError("the crop protocol needs the crop size")
    check_crop_room(int(plan["max_shift"].max()), resize_to=images.shape[1], crop=crop)
    centre = centre_offset(resize_to=images.shape[1], crop=crop)
    return crops(images, image, centre + dy, centre + dx, crop)


def consistency_passes(n_images: int, passes: int, max_shifts: Sequence[int]) -> int:
    """VGG16 passes of one consistency protocol for one variant: two copies per pair."""
    return n_images * passes * len(max_shifts) * 2


def worst_shift_passes(n_images: int, max_shift: int) -> int:
    """VGG16 passes of the worst shift for one protocol and variant: ``(2s)²`` copies per image."""
    return n_images * (2 * max_shift) ** 2


# --------------------------------------------------------------------------- per image and summary
def image_outcomes(copies: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, protocol and image from the copies' ``p_truck`` (one reference row each):
    the reference's P(truck) and class, the number of shifted copies whose class differs from it,
    whether any does (``fooled``) and the largest ``|ΔP(truck)|`` over the shifts."""
    keys = ["variant", "protocol", "max_shift", "image_id"]
    reference = copies[copies["reference"]].set_index(keys)
    if reference.index.duplicated().any():
        raise UserError("worst shift: an image has more than one reference copy")
    shifted = copies[~copies["reference"]].join(reference["p_truck"].rename("p_reference"), on=keys)
    if shifted["p_reference"].isna().any():
        raise UserError("worst shift: an image has no reference copy (dy = dx = 0)")
    shifted = shifted.assign(
        changed=(shifted["p_truck"] >= 0.5) != (shifted["p_reference"] >= 0.5),
        abs_dp=(shifted["p_truck"] - shifted["p_reference"]).abs(),
    )
    per_image = shifted.groupby(keys, sort=False).agg(
        n_shifts=("changed", "size"), n_changed=("changed", "sum"), worst_dp=("abs_dp", "max")
    )
    out = reference[["label", "p_truck"]].rename(columns={"p_truck": "p_reference"}).join(per_image, how="inner")
    out["reference_class"] = (out["p_reference"] >= 0.5).astype(int)
    out["n_changed"] = out["n_changed"].astype(int)
    out["fooled"] = out["n_changed"] > 0
    return out.reset_index()[
        [*keys, "label", "p_reference", "reference_class", "n_shifts", "n_changed", "fooled", "worst_dp"]
    ]


def worst_shift_summary(images: pd.DataFrame) -> pd.DataFrame:
    """Per variant, protocol and max shift (:data:`SUMMARY_COLUMNS`), from :func:`image_outcomes`:
    the share of images fooled by at least one shift (Clopper–Pearson: one observation per image),
    the share of shifted copies whose class changed (Korn–Graubard over images) and the mean over
    images of the worst ``|ΔP(truck)|`` (t interval over images, clipped to [0, 1]), all 95 %."""
    rows = []
    for (variant, protocol, max_shift), group in images.groupby(["variant", "protocol", "max_shift"], sort=False):
        n = len(group)
        fooled = int(group["fooled"].sum())
        low, high = (float(v) for v in clopper_pearson(np.array(fooled), np.array(n)))
        counts = group["n_shifts"].to_numpy(np.float64)
        changed, changed_lo, changed_hi = (
            float(v[0]) for v in clustered_share_interval(counts, group["n_changed"].to_numpy(np.float64)[:, None])
        )
        worst, worst_lo, worst_hi = (
            float(np.clip(v[0], 0, 1))  # a t interval of a mean in [0, 1], clipped to it
            for v in clustered_mean_interval(np.ones(n), group["worst_dp"].to_numpy(np.float64)[:, None])
        )
        shifts = set(group["n_shifts"])
        if len(shifts) != 1:
            raise UserError(f"worst shift: the images of {variant}, {protocol} have different numbers of shifts")
        rows.append(
            {
                "variant": variant,
                "protocol": protocol,
                "max_shift": int(max_shift),
                "n_images": n,
                "n_shifts": int(shifts.pop()),
                "n_fooled": fooled,
                "fooled_share": fooled / n,
                "fooled_share_lo": low,
                "fooled_share_hi": high,
                "changed_share": changed,
                "changed_share_lo": changed_lo,
                "changed_share_hi": changed_hi,
                "worst_dp": worst,
                "worst_dp_lo": worst_lo,
                "worst_dp_hi": worst_hi,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
