"""Weights (random, by path, ImageNet download with MD5) and the feature extractor (TensorFlow)."""

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from poolkit.features import preprocess, shard_bounds
from poolkit.io import UserError, read_maps, write_maps
from tests.helpers import Route, serve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tf_ready():
    from poolkit import tfsetup

    tfsetup.configure(2)


@pytest.fixture(scope="module")
def seeded_weights(tmp_path_factory, tf_ready):
    from poolkit.weights import random_model, save_weights

    path = tmp_path_factory.mktemp("w") / "seeded.weights.h5"
    save_weights(random_model(3), path)
    return path


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(10, 64, 64, 3), dtype=np.uint8)


@pytest.mark.slow
def test_weights_written_then_loaded_by_path_give_identical_features(tmp_path, seeded_weights, images, tf_ready):
    import tensorflow as tf

    from poolkit.features import FeatureExtractor
    from poolkit.weights import random_model, weights_digest

    a = FeatureExtractor(str(seeded_weights), "caffe").extract_arrays(images, 4)
    b = FeatureExtractor(str(seeded_weights), "caffe").extract_arrays(images, 4)
    assert a.shape == (10, 512) and np.array_equal(a, b)
    # The same features straight from the in-memory seeded model the file was written from.
    in_memory = random_model(3)
    direct = np.concatenate(
        [
            tf.reduce_mean(in_memory(preprocess(images[i : i + 4], "caffe"), training=False), axis=(1, 2)).numpy()
            for i in range(0, len(images), 4)
        ]
    )
    assert np.allclose(a, direct, rtol=1e-5, atol=1e-6)
    # Same seed, same weights; another seed, other weights.
    assert weights_digest(random_model(3)) == weights_digest(random_model(3)) != weights_digest(random_model(4))


@pytest.mark.slow
def test_wrong_weights_file_is_a_clear_error(tmp_path, tf_ready):
    import keras

    from poolkit.weights import load_model_from_file

    with pytest.raises(UserError, match="does not exist"):
        load_model_from_file(tmp_path / "missing.h5")
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(UserError, match="does not fit the VGG16 notop"):
        load_model_from_file(tmp_path / "other.weights.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(UserError, match="does not fit"):
        load_model_from_file(tmp_path / "junk.h5")


@pytest.mark.slow
def test_prepare_weights_script_by_path_reports_bad_file(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"junk")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/prepare_weights.py"),
            "--source",
            "path",
            "--path",
            str(tmp_path / "junk.h5"),
            "--out",
            str(tmp_path / "w.weights.h5"),
            "--info",
            str(tmp_path / "w.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "ERROR: weights file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "w.weights.h5").exists()


@pytest.mark.slow
def test_imagenet_download_checks_md5_and_rejects_a_tampered_file(tmp_path, monkeypatch, seeded_weights):
    from poolkit.cache import verified_file
    from poolkit.weights import fetch_imagenet

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    body = seeded_weights.read_bytes()
    md5 = hashlib.md5(body).hexdigest()
    tampered = bytearray(body)
    tampered[len(body) // 2] ^= 0xFF
    with serve({"/good.h5": Route(body), "/tampered.h5": Route(bytes(tampered))}) as url:
        out = fetch_imagenet(tmp_path / "ok.h5", url + "/good.h5", md5)
        assert out.read_bytes() == body
        with pytest.raises(UserError, match="does not match"):
            fetch_imagenet(tmp_path / "bad.h5", url + "/tampered.h5", md5)
    assert not (tmp_path / "bad.h5").exists()
    (tmp_path / "local.h5").write_bytes(bytes(tampered))
    with pytest.raises(UserError, match=r"local.h5 is damaged: its md5 .* Remedy: delete"):
        verified_file(tmp_path / "local.h5", "md5", md5)


def test_imagenet_uses_a_verified_keras_cache_copy(tmp_path, monkeypatch):
    from poolkit import weights

    body = b"pretend weights"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / weights.IMAGENET_NOTOP_FILE).write_bytes(body)
    out = weights.fetch_imagenet(tmp_path / "copy.h5", "http://127.0.0.1:9/never-used", hashlib.md5(body).hexdigest())
    assert out.read_bytes() == body


def test_caffe_preprocessing_matches_keras(tf_ready, images):
    from keras.applications.vgg16 import preprocess_input

    ours = preprocess(images, "caffe")
    theirs = preprocess_input(images.astype(np.float32).copy())
    assert np.allclose(ours, np.asarray(theirs), atol=1e-4)
    assert np.array_equal(preprocess(images, "none"), images.astype(np.float32))


@pytest.mark.parametrize(("n", "batch", "shards"), [(100, 8, 3), (7, 4, 5), (64, 64, 2), (1000, 64, 7)])
def test_shards_cover_all_images_once_on_batch_boundaries(n, batch, shards):
    bounds = [shard_bounds(n, batch, shards, k) for k in range(shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (_, stop), (start, _) in itertools.pairwise(bounds):
        assert stop == start and (start % batch == 0 or start == n)


@pytest.mark.slow
def test_sharded_extraction_equals_unsharded_byte_for_byte(tmp_path, seeded_weights, tf_ready):
    from poolkit.features import FeatureExtractor
    from poolkit.synthetic import generate_dataset

    generate_dataset(tmp_path / "img", {"train": 5, "valid": 3}, seed=2)
    paths = sorted(str(p) for p in (tmp_path / "img").rglob("*.jpeg"))
    extractor = FeatureExtractor(str(seeded_weights), "caffe")
    whole, whole_maps, _ = extractor.extract_paths(paths, 64, "nearest", 4)
    parts, map_parts = [], []
    for k in range(3):
        start, stop = shard_bounds(len(paths), 4, 3, k)
        scores, maps, _ = extractor.extract_paths(paths[start:stop], 64, "nearest", 4)
        parts.append(scores)
        map_parts.append(maps)
    assert np.concatenate(parts).tobytes() == whole.tobytes()
    assert np.concatenate(map_parts).tobytes() == whole_maps.tobytes() and whole_maps.shape == (16, 2, 2, 512)
    # more shards than batches: an empty shard still writes a (0-row) table the merge can join
    empty_scores, empty_maps, _ = extractor.extract_paths([], 64, "nearest", 4)
    assert empty_scores.shape == (0, 512) and empty_maps.shape == (0, 2, 2, 512)
    meta = pd.DataFrame({"image_id": pd.Series([], dtype=str)})
    write_maps(meta, empty_maps, tmp_path / "empty.parquet")
    write_maps(pd.DataFrame({"image_id": [str(p) for p in paths]}), whole_maps, tmp_path / "whole.parquet")
    joined = pa.concat_tables([pq.read_table(tmp_path / "whole.parquet"), pq.read_table(tmp_path / "empty.parquet")])
    pq.write_table(joined, tmp_path / "joined.parquet")
    assert np.array_equal(read_maps(tmp_path / "joined.parquet")[1], whole_maps.reshape(16, -1))
    assert read_maps(tmp_path / "empty.parquet")[1].shape == (0, 2 * 2 * 512)
    assert pd.DataFrame(whole).notna().all().all() and whole.std() > 0


@pytest.mark.slow
def test_in_graph_preprocessing_equals_the_reference(seeded_weights, images, tf_ready):
    import tensorflow as tf

    from poolkit.features import FeatureExtractor

    for mode in ("caffe", "none"):
        extractor = FeatureExtractor(str(seeded_weights), mode)
        reference = tf.reduce_mean(extractor.base(preprocess(images, mode), training=False), axis=(1, 2)).numpy()
        assert np.allclose(extractor.scores(images), reference, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_bfloat16_scores_are_close_to_float32(seeded_weights, images, tf_ready):
    from poolkit.features import FeatureExtractor

    exact = FeatureExtractor(str(seeded_weights), "caffe").scores(images)
    fast = FeatureExtractor(str(seeded_weights), "caffe", "bfloat16").scores(images)
    assert fast.dtype == np.float32 and not np.array_equal(fast, exact)
    cosine = (exact * fast).sum(1) / (np.linalg.norm(exact, axis=1) * np.linalg.norm(fast, axis=1))
    assert cosine.min() > 0.99
    again = FeatureExtractor(str(seeded_weights), "caffe").scores(images)
    assert np.array_equal(again, exact)  # the float32 policy is restored afterwards


@pytest.mark.parametrize(
    ("requested", "flags", "has_gpu", "expected"),
    [
        ("auto", {"avx2", "avx512f", "avx512_bf16"}, False, "bfloat16"),
        ("auto", {"avx2", "amx_bf16", "amx_tile"}, False, "bfloat16"),
        ("auto", {"avx2", "fma"}, False, "float32"),
        ("auto", {"avx512f", "avx512_bf16"}, True, "float32"),
        ("auto", set(), False, "float32"),
        ("float32", {"avx512_bf16"}, False, "float32"),
        ("bfloat16", {"avx2"}, False, "bfloat16"),
    ],
)
def test_precision_auto_picks_bfloat16_only_where_the_cpu_has_it(requested, flags, has_gpu, expected):
    from poolkit.features import resolve_precision

    precision, reason = resolve_precision(requested, flags, has_gpu)
    assert precision == expected
    assert reason.startswith("auto: ") == (requested == "auto")


def test_unknown_precision_is_refused():
    from poolkit.features import resolve_precision

    with pytest.raises(ValueError, match="allowed: auto, float32, bfloat16"):
        resolve_precision("float16", set(), False)


def test_cpu_flags_reads_every_flags_line(tmp_path):
    from poolkit.machine import cpu_flags, cpu_model, native_bfloat16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse avx2 avx512_bf16\nbugs\t\t: spectre\n\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse avx2 avx512_bf16 amx_bf16\n"
    )
    assert cpu_flags(str(cpuinfo)) == {"fpu", "sse", "avx2", "avx512_bf16", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()
    assert cpu_model(str(cpuinfo)) == "Test CPU 9000"
    assert native_bfloat16(cpu_flags(str(cpuinfo))) == ["amx_bf16", "avx512_bf16"]
    assert native_bfloat16({"avx2", "fma"}) == []
    assert cpu_model(str(tmp_path / "missing"))  # falls back to what platform knows


@pytest.mark.slow
def test_auto_precision_runs_what_it_resolves_to(seeded_weights, images, tf_ready):
    from poolkit.features import FeatureExtractor, resolve_precision
    from poolkit.machine import cpu_flags

    auto = FeatureExtractor(str(seeded_weights), "caffe", "auto")
    assert (auto.precision, auto.precision_reason) == resolve_precision("auto", cpu_flags(), has_gpu=False)
    scores = auto.scores(images)
    explicit = FeatureExtractor(str(seeded_weights), "caffe", auto.precision)
    assert np.array_equal(scores, explicit.scores(images))
    # and not the other precision: the resolved one is what the model computes in
    other = FeatureExtractor(str(seeded_weights), "caffe", "float32" if auto.precision == "bfloat16" else "bfloat16")
    assert not np.array_equal(scores, other.scores(images))


def test_merge_refuses_shards_of_different_precisions(tmp_path):
    manifest = pd.DataFrame({"image_id": ["a", "b"], "split": ["train", "valid"], "label": [0, 1]})
    manifest.to_parquet(tmp_path / "manifest.parquet")
    for shard, precision in enumerate(["bfloat16", "float32"]):
        row = manifest.iloc[[shard]].reset_index(drop=True)
        scores = pd.DataFrame(np.full((1, 512), shard, dtype=np.float32), columns=[f"f{i:03d}" for i in range(512)])
        pd.concat([row, scores], axis=1).to_parquet(tmp_path / f"{shard}.parquet")
        reason = (
            "auto: the CPU has native bfloat16 (avx512_bf16)" if shard == 0 else "auto: the CPU has no native bfloat16"
        )
        info = {"shard": shard, "seconds": 1.0, "precision": precision, "precision_reason": reason}
        (tmp_path / f"{shard}.json").write_text(json.dumps(info))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/merge_features.py"),
            "--shards",
            str(tmp_path / "0.parquet"),
            str(tmp_path / "1.parquet"),
            "--infos",
            str(tmp_path / "0.json"),
            str(tmp_path / "1.json"),
            "--manifest",
            str(tmp_path / "manifest.parquet"),
            "--out",
            str(tmp_path / "features.parquet"),
            "--info",
            str(tmp_path / "features.json"),
            "--shard-maps",
            str(tmp_path / "0.maps.parquet"),
            str(tmp_path / "1.maps.parquet"),
            "--maps",
            str(tmp_path / "maps.parquet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "different precisions" in result.stderr and "Traceback" not in result.stderr
    assert "shard 0: bfloat16" in result.stderr and "shard 1: float32" in result.stderr
    assert "features.precision to float32" in result.stderr
    assert not (tmp_path / "features.parquet").exists() and not (tmp_path / "features.json").exists()


def test_peak_bounds_follow_the_cpus_units_and_clock(tmp_path):
    from poolkit.machine import clock_ghz, flop_per_cycle, theoretical_peaks

    amx = {"avx512f", "avx2", "fma", "avx512_bf16", "amx_bf16"}
    assert flop_per_cycle(amx) == {"float32": 64, "bfloat16": 1024}
    assert flop_per_cycle({"avx512f", "avx512_bf16"}) == {"float32": 64, "bfloat16": 128}
    assert flop_per_cycle({"avx2", "fma"}) == {"float32": 32, "bfloat16": None}  # the AVX2-only EPYC
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu MHz\t\t: 2100.000\n\nprocessor\t: 1\ncpu MHz\t\t: 2450.5\n")
    assert clock_ghz(str(cpuinfo)) == pytest.approx(2.4505)
    assert np.isnan(clock_ghz(str(tmp_path / "missing")))
    peaks = theoretical_peaks(amx, cores=2, ghz=3.0)
    assert peaks == {"float32": pytest.approx(384.0), "bfloat16": pytest.approx(6144.0)}
    assert np.isnan(theoretical_peaks({"avx2", "fma"}, cores=2, ghz=3.0)["bfloat16"])
