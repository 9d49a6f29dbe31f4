"""Image validation, layout checks, local and Kaggle sources, and the synthetic generator."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolkit import dataset
from poolkit.dataset import (
    build_manifest,
    check_layout,
    example_images,
    kaggle_download,
    load_rgb,
    materialise_local,
)
from poolkit.io import UserError
from poolkit.synthetic import generate_dataset
from tests.helpers import jpeg_bytes, make_layout, serve_status

ROOT = Path(__file__).resolve().parents[1]


def add_bad_and_odd_files(root: Path) -> None:
    folder = root / "train" / "Car"
    good = jpeg_bytes(99, size=(64, 48))
    (folder / "a_corrupt.jpeg").write_bytes(good[: len(good) // 3])  # truncated JPEG
    (folder / "b_empty.jpeg").write_bytes(b"")
    (folder / "c_text.jpeg").write_text("this is not an image\n")
    (folder / "d_grey.jpeg").write_bytes(jpeg_bytes(5, mode="L"))
    (folder / "e_cmyk.jpeg").write_bytes(jpeg_bytes(6, mode="CMYK"))
    rgba = Image.fromarray(np.random.default_rng(7).integers(0, 256, (20, 30, 4), dtype=np.uint8), "RGBA")
    rgba.save(folder / "f_rgba.png")
    Image.new("P", (16, 16), 3).save(folder / "g_palette.gif")


def test_skip_keeps_good_images_and_reports_the_rest(tmp_path):
    make_layout(tmp_path, per_class=2)
    add_bad_and_odd_files(tmp_path)
    manifest, skipped = build_manifest(tmp_path, "skip")
    assert sorted(skipped["image_id"]) == [
        "train/Car/a_corrupt.jpeg",
        "train/Car/b_empty.jpeg",
        "train/Car/c_text.jpeg",
    ]
    reasons = dict(zip(skipped["image_id"], skipped["reason"], strict=True))
    assert "empty" in reasons["train/Car/b_empty.jpeg"]
    assert "not an image" in reasons["train/Car/c_text.jpeg"]
    assert "truncated" in reasons["train/Car/a_corrupt.jpeg"]
    assert len(manifest) == 8 + 4  # 8 good RGB JPEGs + grey, CMYK, RGBA PNG, palette GIF
    modes = dict(zip(manifest["image_id"], manifest["mode"], strict=True))
    assert modes["train/Car/d_grey.jpeg"] == "L" and modes["train/Car/e_cmyk.jpeg"] == "CMYK"
    assert modes["train/Car/f_rgba.png"] == "RGBA" and modes["train/Car/g_palette.gif"] == "P"
    for name in ("d_grey.jpeg", "e_cmyk.jpeg", "f_rgba.png", "g_palette.gif"):
        rgb = load_rgb(tmp_path / "train/Car" / name, 32, "nearest")
        assert rgb.mode == "RGB" and rgb.size == (32, 32)
    row = manifest.set_index("image_id").loc["train/Car/d_grey.jpeg"]
    assert row["sha256"] == hashlib.sha256((tmp_path / "train/Car/d_grey.jpeg").read_bytes()).hexdigest()


def test_fail_stops_at_the_first_bad_file_and_names_it(tmp_path):
    make_layout(tmp_path, per_class=2)
    add_bad_and_odd_files(tmp_path)
    with pytest.raises(UserError, match=r"a_corrupt\.jpeg.*bad_images: skip"):
        build_manifest(tmp_path, "fail")


@pytest.mark.integration
def test_build_manifest_script_fails_with_one_clear_line(tmp_path):
    make_layout(tmp_path / "img", per_class=1)
    (tmp_path / "img/valid/Truck/zero.jpeg").write_bytes(b"")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/build_manifest.py"),
            "--images",
            str(tmp_path / "img"),
            "--manifest",
            str(tmp_path / "m.parquet"),
            "--skipped",
            str(tmp_path / "s.tsv"),
            "--duplicates",
            str(tmp_path / "d.tsv"),
            "--counts",
            str(tmp_path / "c.json"),
            "--bad-images",
            "fail",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("ERROR: bad image") and "zero.jpeg" in result.stderr
    assert not (tmp_path / "m.parquet").exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda root: __import__("shutil").rmtree(root / "valid"), "missing split folder 'valid/'"),
        (lambda root: (root / "train" / "Bus").mkdir(), "unexpected class folder"),
        (lambda root: [p.unlink() for p in (root / "valid" / "Car").iterdir()], "is empty"),
    ],
)
def test_layout_errors_are_clear(tmp_path, mutate, message):
    make_layout(tmp_path, per_class=1)
    mutate(tmp_path)
    with pytest.raises(UserError, match=message):
        check_layout(tmp_path)


def test_local_source_copies_or_links_without_modifying(tmp_path):
    files = make_layout(tmp_path / "src" / "wrapped", per_class=1)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "src").rglob("*")}
    for mode in ("copy", "link"):
        dest = tmp_path / mode
        materialise_local(tmp_path / "src", dest, mode)  # finds the single wrapped folder
        for rel, data in files.items():
            assert (dest / rel).read_bytes() == data
            assert (dest / rel).is_symlink() == (mode == "link")
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "src").rglob("*")}


def test_kaggle_source_calls_kagglehub_with_the_handle(tmp_path, monkeypatch):
    import kagglehub

    make_layout(tmp_path / "cache", per_class=1)
    calls = []
    monkeypatch.setattr(kagglehub, "dataset_download", lambda handle: calls.append(handle) or str(tmp_path / "cache"))
    assert kaggle_download() == tmp_path / "cache"
    assert calls == ["ryanholbrook/car-or-truck"] == [dataset.KAGGLE_HANDLE]


def test_kaggle_without_internet_maps_to_the_clear_error(tmp_path, monkeypatch):
    # The real kagglehub client, pointed at its TEST endpoint (http://localhost:7777, where
    # nothing listens): it fails as it would offline, and no outside address is contacted.
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    with pytest.raises(UserError) as info:
        kaggle_download("ryanholbrook/car-or-truck")
    text = str(info.value)
    assert "ryanholbrook/car-or-truck" in text and "source to 'local'" in text and "synthetic" in text
    assert "no connection to Kaggle" in text and "make fetch" in text
    assert "HTTP" not in text and "token" not in text


def kaggle_stage(tmp_path: Path, proxy: str, handle: str, **env: str) -> subprocess.CompletedProcess:
    """The dataset stage with source kaggle, the real kagglehub client in its TEST environment
    (endpoint http://localhost:7777), every request sent through ``proxy`` on 127.0.0.1."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(("KAGGLE", "NO_PROXY", "HTTP"))}
    base.update(
        KAGGLE_API_ENVIRONMENT="TEST",
        HTTP_PROXY=proxy,
        NO_PROXY="",
        HOME=str(tmp_path),
        KAGGLEHUB_CACHE=str(tmp_path / "cache"),
        KAGGLE_CONFIG_DIR=str(tmp_path / "kaggle"),
        **env,
    )
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/download_dataset.py"),
            "--source",
            "kaggle",
            "--kaggle-handle",
            handle,
            "--cache",
            str(tmp_path / "downloads"),
            "--out",
            str(tmp_path / "receipt.json"),
        ],
        capture_output=True,
        text=True,
        env=base,
        check=False,
    )


@pytest.mark.parametrize(
    ("status", "credentials", "expected", "not_expected"),
    [
        (401, {}, ["HTTP 401", "KAGGLE_API_TOKEN", "~/.kaggle/access_token", "KAGGLE_USERNAME", "Settings"], ["404"]),
        (403, {"KAGGLE_API_TOKEN": "a-rejected-token"}, ["HTTP 403", "credentials", "create a new token"], ["404"]),
        (404, {}, ["HTTP 404", "has no dataset", "dataset.kaggle.handle"], ["token", "no internet"]),
        (500, {}, ["HTTP 500", "Rerun later"], ["token", "no internet", "has no dataset"]),
    ],
)
@pytest.mark.integration
def test_kaggle_errors_say_which_and_the_remedy(tmp_path, status, credentials, expected, not_expected):
    with serve_status(status) as (proxy, requested):
        result = kaggle_stage(tmp_path, proxy, "someone/some-data", **credentials)
    assert requested and all(path.startswith("http://localhost:7777/") for path in requested)  # kagglehub's own call
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "'someone/some-data'" in errors[0], result.stderr
    for text in expected:
        assert text in errors[0]
    for text in not_expected:
        assert text not in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "receipt.json").exists()
    assert not (tmp_path / "downloads/kaggle").exists()  # no record of a download that failed


def test_synthetic_same_seed_gives_byte_identical_files(tmp_path):
    counts = {"train": 3, "valid": 2}
    generate_dataset(tmp_path / "a", counts, seed=5)
    generate_dataset(tmp_path / "b", counts, seed=5)
    generate_dataset(tmp_path / "c", counts, seed=6)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jpeg"))
    assert len(files_a) == 2 * (3 + 2)
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any((tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes() for rel in files_a)
    check_layout(tmp_path / "a")
    manifest, skipped = build_manifest(tmp_path / "a")
    assert skipped.empty and (manifest["mode"] == "RGB").all()
    assert manifest.groupby(["split", "label"]).size().to_dict() == {
        ("train", 0): 3,
        ("train", 1): 3,
        ("valid", 0): 2,
        ("valid", 1): 2,
    }


def test_render_vehicle_rejects_unknown_class():
    from poolkit.synthetic import render_vehicle

    with pytest.raises(ValueError, match="allowed: Car, Truck"):
        render_vehicle("Bus", np.random.default_rng(0))


def test_example_images_are_each_class_validation_images_as_the_model_sees_them(tmp_path):
    make_layout(tmp_path, per_class=3)
    manifest, _ = build_manifest(tmp_path)
    examples = example_images(manifest.iloc[::-1], 2, 0, 16, "nearest")  # classes in label order, not row order
    assert list(examples) == ["Car", "Truck"] and [len(images) for images in examples.values()] == [2, 2]
    assert all(image.shape == (16, 16, 3) and image.dtype == np.uint8 for image in examples["Truck"])
    chosen = {f"valid/Car/car{i}.jpeg" for i in range(3)}
    loaded = {np.asarray(load_rgb(tmp_path / name, 16, "nearest")).tobytes() for name in chosen}
    assert {image.tobytes() for image in examples["Car"]} <= loaded
    assert len(example_images(manifest, 5, 0, 16, "nearest")["Car"]) == 3  # no more than the split has
