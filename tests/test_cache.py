"""The download cache: kept once under a key, verified, reused without the network, never rewritten."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from poolkit import cache
from poolkit.dataset import build_manifest, check_image, split_duplicates
from poolkit.io import UserError, check_recorded_digest, write_json
from tests.helpers import Route, serve

ROOT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_archive_is_downloaded_once_then_used_offline(tmp_path):
    body = b"an archive's bytes"
    route = Route(body)
    with serve({"/a.zip": route}) as url:
        first = cache.archive(tmp_path, url + "/a.zip", sha(body), 0, 0)
        again = cache.archive(tmp_path, url + "/a.zip", sha(body), 0, 0)
    assert first == again == tmp_path / "url" / sha(body) / "archive" and first.read_bytes() == body
    assert route.hits == 1  # the second call used the cache
    # The server is gone: the key alone finds the file, and another address for the same bytes too.
    assert cache.archive(tmp_path, "http://127.0.0.1:9/moved.zip", sha(body), 0, 0).read_bytes() == body
    assert json.loads((first.parent / "source.json").read_text())["sha256"] == sha(body)


def test_a_damaged_cached_file_is_an_error_and_is_not_downloaded_over(tmp_path):
    body = b"weights"
    md5 = hashlib.md5(body).hexdigest()
    with serve({"/w.h5": Route(body)}) as url:
        path = cache.imagenet_weights(tmp_path, url + "/w.h5", md5)
        path.write_bytes(b"weighTs")
        with pytest.raises(UserError, match=r"w.h5 is damaged: its md5 .*Remedy: delete .*rerun the same command"):
            cache.imagenet_weights(tmp_path, url + "/w.h5", md5)
    assert path.read_bytes() == b"weighTs"  # left for the user to look at, not replaced


def test_a_receipt_names_a_verified_download(tmp_path):
    folder = tmp_path / "data"
    (folder / "train").mkdir(parents=True)
    (folder / "train/a.jpeg").write_bytes(b"a")
    receipt = {"source": "kaggle", "path": str(folder), "algorithm": "tree_sha256", "digest": cache.tree_digest(folder)}
    assert cache.verify_receipt(receipt) == folder
    (folder / "train/a.jpeg").write_bytes(b"b")
    with pytest.raises(UserError, match="is damaged"):
        cache.verify_receipt(receipt)
    with pytest.raises(UserError, match=r"is missing .*make fetch"):
        cache.verify_receipt({**receipt, "path": str(tmp_path / "gone")})


def test_kaggle_resolves_a_handle_once_then_reuses_that_version(tmp_path, monkeypatch):
    import kagglehub

    calls: list[str] = []

    def fake_download(handle: str) -> str:
        calls.append(handle)
        folder = tmp_path / "kagglehub/datasets/o/d/versions/3"
        if not folder.is_dir():  # kagglehub's own cache: downloaded once
            (folder / "train").mkdir(parents=True)
            (folder / "train/x.jpeg").write_bytes(b"x")
        return str(folder)

    monkeypatch.setattr(kagglehub, "dataset_download", fake_download)
    first = cache.kaggle_dataset(tmp_path, "o/d")
    second = cache.kaggle_dataset(tmp_path, "o/d")
    assert calls == ["o/d", "o/d/versions/3"]  # the second asks for the recorded version: no lookup online
    assert first == second and first["handle"] == "o/d/versions/3"
    (Path(first["folder"]) / "train/x.jpeg").write_bytes(b"y")
    with pytest.raises(UserError, match="is damaged"):
        cache.kaggle_dataset(tmp_path, "o/d")


def test_a_flipped_byte_in_a_recorded_file_is_named_with_the_remedy(tmp_path):
    data = tmp_path / "features.parquet"
    data.write_bytes(b"0123456789")
    write_json({"features_sha256": sha(data.read_bytes())}, tmp_path / "features.json")
    check_recorded_digest(data, tmp_path / "features.json", "features_sha256")
    data.write_bytes(b"0123456788")
    with pytest.raises(UserError, match=r"features.parquet is damaged .*features.json. Remedy: delete"):
        check_recorded_digest(data, tmp_path / "features.json", "features_sha256")


@pytest.mark.integration
def test_a_flipped_byte_in_the_weights_stops_the_feature_stage(tmp_path):
    weights = tmp_path / "vgg16_notop.weights.h5"
    weights.write_bytes(b"weights bytes")
    write_json({"file_sha256": sha(b"weights bytes")}, tmp_path / "weights.json")
    weights.write_bytes(b"weights bytez")
    options = ["--manifest", "m.parquet", "--weights", str(weights), "--weights-info", "weights.json"]
    options += ["--out", "o.parquet", "--maps", "m2.parquet", "--info", "i.json", "--shard", "0"]
    script = str(ROOT / "scripts/extract_features.py")
    result = subprocess.run([sys.executable, script, *options], cwd=tmp_path, capture_output=True, text=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert result.returncode == 1 and len(errors) == 1 and "vgg16_notop.weights.h5 is damaged" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "o.parquet").exists()


def layout_with(tmp_path: Path) -> Path:
    """A Kaggle-layout folder of 8 small images, one training image copied into valid/."""
    root = tmp_path / "data"
    for split in ("train", "valid"):
        for index, label in enumerate(("Car", "Truck")):
            (root / split / label).mkdir(parents=True)
            for k in range(2):
                colour = (40 * k + 100 * index, 7 if split == "train" else 99, 0)
                Image.new("RGB", (8, 8), colour).save(root / split / label / f"{k}.png")
    (root / "valid/Car/copy.png").write_bytes((root / "train/Truck/1.png").read_bytes())
    return root


def test_images_in_both_splits_are_listed(tmp_path):
    manifest, _ = build_manifest(layout_with(tmp_path))
    duplicates = split_duplicates(manifest)
    assert duplicates.to_dict("records") == [
        {
            "sha256": sha((tmp_path / "data/train/Truck/1.png").read_bytes()),
            "train_images": "train/Truck/1.png",
            "valid_images": "valid/Car/copy.png",
        }
    ]
    assert split_duplicates(manifest[manifest["image_id"] != "valid/Car/copy.png"]).empty


@pytest.mark.integration
def test_the_manifest_stage_reports_or_refuses_split_duplicates(tmp_path):
    root = layout_with(tmp_path)
    script = str(ROOT / "scripts/build_manifest.py")
    outputs = ["--manifest", "m.parquet", "--skipped", "s.tsv", "--duplicates", "d.tsv", "--counts", "c.json"]
    warn = subprocess.run(
        [sys.executable, script, "--images", str(root), *outputs], cwd=tmp_path, capture_output=True, text=True
    )
    assert warn.returncode == 0 and "WARNING: 1 image content(s) are in both splits" in warn.stderr
    assert json.loads((tmp_path / "c.json").read_text())["n_split_duplicates"] == 1
    refuse = subprocess.run(
        [sys.executable, script, "--images", str(root), *outputs, "--split-duplicates", "refuse"],
        cwd=tmp_path / "data",
        capture_output=True,
        text=True,
    )
    assert refuse.returncode == 1 and "ERROR: 1 image content(s) are in both splits" in refuse.stderr
    assert "dataset.split_duplicates: warn" in refuse.stderr and not (tmp_path / "data/m.parquet").exists()


def test_an_oversized_image_is_a_named_bad_image(tmp_path, monkeypatch):
    root = layout_with(tmp_path)
    Image.new("RGB", (40, 40), (1, 2, 3)).save(root / "train/Car/big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40 x 40 > 2 x 100: Pillow's bomb error; 8 x 8 passes
    assert "too large to decode safely" in check_image(root / "train/Car/big.png").reason
    with pytest.raises(UserError, match=r"bad image .*train/Car/big.png: image too large"):
        build_manifest(root, "fail")
    _, skipped = build_manifest(root, "skip")
    assert skipped["image_id"].tolist() == ["train/Car/big.png"]
    assert skipped["reason"].iloc[0].startswith("image too large to decode safely (Image size (1600 pixels)")


def test_files_that_are_not_read_are_listed_with_the_reason(tmp_path):
    from poolkit.dataset import materialise_local

    root = layout_with(tmp_path)
    (root / "train/Car/extra").mkdir()
    (root / "train/Car/extra/hidden.png").write_bytes((root / "train/Car/0.png").read_bytes())
    (root / "notes.txt").write_text("hello")
    not_read = materialise_local(root, tmp_path / "images", "copy")
    _, skipped = build_manifest(tmp_path / "images", not_read=not_read)
    reasons = dict(zip(skipped["image_id"], skipped["reason"], strict=True))
    assert set(reasons) == {"train/Car/extra/hidden.png", "notes.txt"}
    assert reasons["train/Car/extra/hidden.png"].startswith("in a subfolder of a class folder")
    assert reasons["notes.txt"].startswith("not in a {train,valid}/{Car,Truck}/ folder")
