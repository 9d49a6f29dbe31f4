"""Merging shards (poolkit.merge): only one complete split, in order and in one precision, is joined,
and the merged feature record is the shards' by hand."""

import pandas as pd
import pytest

from poolkit.io import UserError
from poolkit.merge import check_covers, check_feature_shards, check_network_shards, concat_shards, features_info


def network_infos(*copies: int, precision: str = "float32") -> list[dict]:
    """Records of one complete split into shards of ``copies`` copies each."""
    starts = [sum(copies[:i]) for i in range(len(copies))]
    return [
        {
            "shard": i,
            "shards": len(copies),
            "precision": precision,
            "precision_reason": "requested",
            "first_copy": start,
            "n_copies": n,
            "copies_total": sum(copies),
        }
        for i, (start, n) in enumerate(zip(starts, copies, strict=True))
    ]


def test_merged_ids_must_be_the_manifests_in_order():
    check_covers(pd.Series(["a", "b"]), ["a", "b"], "feature shards")
    for ids in (["b", "a"], ["a"], ["a", "b", "b"]):
        with pytest.raises(UserError, match=r"^feature shards do not cover the manifest exactly once, in order$"):
            check_covers(ids, ["a", "b"], "feature shards")


def test_feature_shards_of_different_precisions_are_refused_naming_each():
    same = [{"shard": s, "precision": "float32", "precision_reason": "requested"} for s in (0, 1)]
    check_feature_shards(same)
    mixed = [same[0], {**same[1], "precision": "bfloat16", "precision_reason": "auto: native"}]
    with pytest.raises(UserError, match=r"shard 0: float32 \(requested\), shard 1: bfloat16 \(auto: native\)"):
        check_feature_shards(mixed)


def test_network_shards_must_be_one_split_in_order_in_the_features_precision():
    check_network_shards(network_infos(4, 4, 2), "float32")
    infos = network_infos(4, 4, 2)
    for broken, message in [
        (infos[:2], "not one complete split, in order"),
        ([{**info, "copies_total": 12} for info in infos], "hold 10 copies of the plan's 12"),
        ([infos[1], infos[0], infos[2]], "not one complete split, in order"),
        ([infos[0], {**infos[1], "first_copy": 3}, infos[2]], "shard 1 does not start where the one before it ends"),
        (network_infos(4, 6, precision="bfloat16"), r"another precision than the feature stage \(float32\)"),
    ]:
        with pytest.raises(UserError, match=message):
            check_network_shards(broken, "float32")


def test_empty_shards_leave_the_merged_schema_alone(tmp_path):
    full, empty = tmp_path / "full.parquet", tmp_path / "empty.parquet"
    pd.DataFrame({"image_id": ["a", "b"], "f000": [1.0, 2.0]}).to_parquet(full)
    pd.DataFrame({"image_id": pd.Series([], dtype=object), "f000": pd.Series([], dtype=float)}).to_parquet(empty)
    merged = concat_shards([str(empty), str(full), str(empty)])
    assert merged["image_id"].tolist() == ["a", "b"] and merged.index.tolist() == [0, 1]
    assert len(concat_shards([str(empty)])) == 0


def test_the_merged_feature_record_by_hand():
    shared = {
        "feature_map_shape": [2, 2, 512],
        "image_size": 64,
        "resize": "nearest",
        "preprocessing": "caffe",
        "precision": "float32",
        "precision_requested": "float32",
        "precision_reason": "requested",
        "batch_size": 8,
        "tensorflow_build": "cpu",
    }
    infos = [{**shared, "seconds": 1.5, "device": "CPU:0"}, {**shared, "seconds": 2.5, "device": "GPU:0"}]
    table = pd.DataFrame(0.0, index=range(8), columns=["image_id", "split", "label", "f000", "f001"])
    info = features_info(infos, table, maps_bytes=1000, features_sha256="f", maps_sha256="m")
    assert info["n_images"] == 8 and info["n_features"] == 2 and info["shards"] == 2
    assert info["devices"] == ["CPU:0", "GPU:0"] and info["maps_bytes_per_image"] == 125.0
    assert info["maps_values_per_image"] == 2048 and info["extract_seconds"] == 4.0 and info["images_per_s"] == 2.0
    assert {key: info[key] for key in shared} == shared
    assert (info["features_sha256"], info["maps_sha256"], info["maps_file_bytes"]) == ("f", "m", 1000)
