"""Merging a sharded stage's outputs (the feature stage, the network stage's variants): the shards
are checked to be one complete split, in order, run in one precision, then joined in shard order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .io import UserError

#: What every node can be told to do when shards ran in different precisions.
PRECISION_REMEDY = "set features.precision to float32 (or bfloat16) instead of auto"


def check_covers(ids: Sequence[str], manifest_ids: Sequence[str], what: str) -> None:
    """``ids`` (of the merged ``what``) are the manifest's images, each once, in its order."""
    if list(ids) != list(manifest_ids):
        raise UserError(f"{what} do not cover the manifest exactly once, in order")


def _shard_precision(info: dict[str, Any]) -> str:
    return f"shard {info['shard']}: {info['precision']} ({info['precision_reason']})"


def check_feature_shards(infos: Sequence[dict[str, Any]]) -> None:
    """The feature shards ran in one precision (their scores could not be merged otherwise)."""
    if len({info["precision"] for info in infos}) > 1:
        by_shard = ", ".join(_shard_precision(info) for info in infos)
        raise UserError(
            f"feature shards were computed in different precisions ({by_shard}), so they cannot be merged; "
            f"{PRECISION_REMEDY}, or run every shard on the same kind of node"
        )


#: Settings every feature shard shares, recorded once from the first.
SHARD_SETTINGS = (
    "feature_map_shape",
    "image_size",
    "resize",
    "preprocessing",
    "precision",
    "precision_requested",
    "precision_reason",
    "batch_size",
)


def features_info(
    infos: Sequence[dict[str, Any]],
    table: pd.DataFrame,
    *,
    maps_bytes: int,
    features_sha256: str,
    maps_sha256: str,
) -> dict[str, Any]:
    """The merged feature stage's record (``features.json``): from its shards' records, its table of GAP
    scores, the size of its feature-map file and both files' digests."""
    first, seconds = infos[0], sum(info["seconds"] for info in infos)
    return {
        "n_images": len(table),
        "n_features": int(table.shape[1] - 3),
        "shards": len(infos),
        **{key: first[key] for key in SHARD_SETTINGS},
        "devices": sorted({info["device"] for info in infos}),
        "tensorflow_build": first["tensorflow_build"],
        "maps_file_bytes": maps_bytes,
        # Checked by every stage that reads them (poolkit.io.check_recorded_digest).
        "features_sha256": features_sha256,
        "maps_sha256": maps_sha256,
        "maps_bytes_per_image": round(maps_bytes / len(table), 1),
        "maps_values_per_image": int(np.prod(first["feature_map_shape"])),
        "extract_seconds": round(seconds, 3),
        "images_per_s": round(len(table) / seconds, 3) if seconds else None,
    }


def check_network_shards(infos: Sequence[dict[str, Any]], precision: str) -> None:
    """The network shards are one split, in order, of the same copy plan, each in the feature stage's precision."""
    if [info["shard"] for info in infos] != list(range(len(infos))) or {info["shards"] for info in infos} != {
        len(infos)
    }:
        raise UserError("the network shards given are not one complete split, in order")
    wrong = [_shard_precision(info) for info in infos if info["precision"] != precision]
    if wrong:
        raise UserError(
            f"network shards ran in another precision than the feature stage ({precision}): {', '.join(wrong)}; "
            f"{PRECISION_REMEDY}, or run every VGG16 job on the same kind of node"
        )
    position = 0
    for info in infos:
        if info["first_copy"] != position:
            raise UserError(f"network shard {info['shard']} does not start where the one before it ends")
        position += info["n_copies"]
    if position != infos[0]["copies_total"]:
        raise UserError(f"the network shards hold {position} copies of the plan's {infos[0]['copies_total']}")


def concat_shards(paths: Sequence[str]) -> pd.DataFrame:
    """The shards' tables in order. Empty ones (a shard without centre crops, say) are left out: their
    text columns read back with another type, which would change the written file's schema."""
    frames = [pd.read_parquet(path) for path in paths]
    return pd.concat([frame for frame in frames if len(frame)] or frames[:1], ignore_index=True)
