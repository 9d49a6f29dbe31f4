"""The real Snakefile end to end on the tiny config: contents, reruns, determinism and Snakemake's own
report (sharding and interruption: test_sharded.py)."""

import html
import json
import os
import re
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from poolkit.io import read_maps
from poolkit.machine import native_bfloat16
from tests.workflow_runs import ROOT, planned_jobs, run_workflow, sha256, tiny_config

pytestmark = pytest.mark.slow
STAGES = ["dataset", "weights", "features", "exercise", "invariance", "head", "network"]


def test_dataset_outputs(tiny_run):
    manifest = pd.read_parquet(tiny_run / "results/tiny/dataset/manifest.parquet")
    assert len(manifest) == 2 * (12 + 8)
    assert manifest.groupby(["split", "class_name"]).size().to_dict() == {
        ("train", "Car"): 12,
        ("train", "Truck"): 12,
        ("valid", "Car"): 8,
        ("valid", "Truck"): 8,
    }
    assert (manifest["label"] == (manifest["class_name"] == "Truck")).all()
    for row in manifest.head(3).itertuples():
        assert sha256(tiny_run / row.path) == row.sha256
    assert pd.read_csv(tiny_run / "results/tiny/dataset/skipped.tsv", sep="\t").empty
    counts = json.loads((tiny_run / "results/tiny/dataset/counts.json").read_text())
    assert counts["n_images"] == 40 and counts["n_skipped"] == 0


def test_feature_outputs(tiny_run):
    features = pd.read_parquet(tiny_run / "results/tiny/features/features.parquet")
    manifest = pd.read_parquet(tiny_run / "results/tiny/dataset/manifest.parquet")
    assert list(features.columns[:3]) == ["image_id", "split", "label"]
    assert list(features.columns[3:]) == [f"f{i:03d}" for i in range(512)]
    assert features["image_id"].tolist() == manifest["image_id"].tolist()
    assert (features["label"].to_numpy() == manifest["label"].to_numpy()).all()
    values = features.iloc[:, 3:].to_numpy()
    assert values.dtype == np.float32 and np.isfinite(values).all() and (values >= 0).all()  # GAP of ReLU maps
    assert values.std(axis=0).max() > 0
    info = json.loads((tiny_run / "results/tiny/features/features.json").read_text())
    assert info["feature_map_shape"] == [2, 2, 512] and info["shards"] == 1 and info["n_images"] == 40
    # the default precision is float32 on every machine, recorded; the shift study uses the same one
    assert (info["precision_requested"], info["precision"]) == ("float32", "float32")
    meta, maps = read_maps(tiny_run / "results/tiny/features/maps.parquet")
    assert meta["image_id"].tolist() == manifest["image_id"].tolist() and maps.shape == (40, 2 * 2 * 512)
    # GAP is the mean of the stored map, GMP its max (the heads derive both from the same forward pass)
    gap = maps.reshape(40, 4, 512).mean(axis=1)
    assert np.allclose(gap, features.iloc[:, 3:].to_numpy(), rtol=1e-5, atol=1e-6)
    assert info["maps_file_bytes"] == (tiny_run / "results/tiny/features/maps.parquet").stat().st_size
    for variant in ("max", "aps_circular"):
        variant_log = (tiny_run / f"logs/tiny/variant_features/{variant}.000.log").read_text()
        assert f"variant {variant}, shard 1/1:" in variant_log
        assert "device: CPU" in variant_log and f"precision: {info['precision']}" in variant_log
    pixels = pd.read_parquet(tiny_run / "results/tiny/features/pixels.parquet")
    assert pixels.shape == (40, 3 + 8 * 8 * 3)


def test_invariance_outputs(tiny_run):
    trials = pd.concat(
        pd.read_parquet(p) for p in sorted((tiny_run / "results/tiny/invariance/trials").glob("*.parquet"))
    )
    # random: 3 inputs × 2 jitters × 40 trials × 2 seeds; grid (J=1): 9 shifts × (2 shapes + 2 images)
    n_trials = trials.groupby(["input", "mode", "seed", "jitter"])["trial"].nunique().sum()
    assert n_trials == 3 * 2 * 40 * 2 + 9 * 4
    assert len(trials) == n_trials * 4 * 4 * 2  # 4 poolings × 4 depths × 2 fills
    summary = pd.read_csv(tiny_run / "results/tiny/invariance/summary_by_jitter.tsv", sep="\t")
    grid = summary.query("input == 'ring' and mode == 'grid' and depth == 4 and fill == 'replicate'").set_index(
        "pooling"
    )
    assert grid.loc["max", "identical_share"] == 1.0
    assert grid.loc["avg", "identical_share"] == pytest.approx(1 / 9)
    wrap_aps = summary.query("pooling == 'aps' and fill == 'wrap'")
    assert (wrap_aps["gap_equal_share"] == 1.0).all()  # APS under circular shifts, every input and depth
    assert (summary["identical_share_lo"] <= summary["identical_share"]).all()
    # How each row's interval was made: exact where every shift of a synthetic input was enumerated
    # (J <= 1 here, random rows too), Wilson/t beyond, the dataset's images resampled.
    methods = summary.groupby(["input", "mode", "jitter"])["interval_method"].unique().map(list).to_dict()
    assert methods == {
        **{(shape, mode, 1): ["exact"] for shape in ("ring", "square") for mode in ("grid", "random")},
        ("ring", "random", 3): ["wilson_t"],
        ("square", "random", 3): ["wilson_t"],
        **{("dataset", mode, j): ["image_clustered"] for mode, j in (("grid", 1), ("random", 1), ("random", 3))},
    }
    assert (summary.loc[summary["input"] == "dataset", "n_images"] == 2).all()
    exact = summary[summary["interval_method"] == "exact"]
    assert (exact["n_shifts"] == 9).all() and (exact["identical_share_hi"] == exact["identical_share_lo"]).all()
    ring = summary.query("input == 'ring' and mode == 'random' and jitter == 1 and depth == 4 and fill == 'replicate'")
    assert ring.set_index("pooling").loc["avg", "identical_course_share"] == pytest.approx(1 / 4)  # zero shift


def test_head_outputs(tiny_run):
    metrics = json.loads((tiny_run / "results/tiny/head/metrics.json").read_text())
    assert metrics["n_train"] == 24 and metrics["n_valid"] == 16
    assert metrics["chosen_C"] in (0.01, 1.0)
    matrix = np.array(metrics["confusion_matrix"]["rows_true_cols_predicted"])
    predictions = pd.read_parquet(tiny_run / "results/tiny/head/predictions.parquet")
    assert matrix.sum() == 16 == len(predictions)
    accuracy = (predictions["predicted"] == predictions["label"]).mean()
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy)
    assert metrics["accuracy"]["ci_low"] <= accuracy <= metrics["accuracy"]["ci_high"]
    assert matrix.trace() / matrix.sum() == pytest.approx(accuracy)
    assert metrics["parameters"] == {
        "feature_map_shape": [2, 2, 512],
        "gap_head": 513,
        "flatten_head": 2049,
        "ratio": pytest.approx(2049 / 513),
    }
    assert set(metrics["models"]) == {"gap", "gmp", "flatten", "pixels", "majority"}
    assert metrics["models"]["majority"]["accuracy"]["value"] == 0.5
    assert {m: metrics["models"][m]["parameters"] for m in ("gap", "gmp", "flatten")} == {
        "gap": 513,
        "gmp": 513,
        "flatten": 2049,
    }
    heads = pd.read_csv(tiny_run / "results/tiny/head/heads.tsv", sep="\t").set_index("model")
    for name in ("gmp", "flatten"):
        accuracy = (predictions[f"p_truck_{name}"].ge(0.5).astype(int) == predictions["label"]).mean()
        assert heads.loc[name, "accuracy"] == pytest.approx(accuracy)
    differences = pd.read_csv(tiny_run / "results/tiny/head/differences.tsv", sep="\t").set_index(
        ["comparison", "metric"]
    )
    expected = heads.loc["gap", "accuracy"] - heads.loc["flatten", "accuracy"]
    assert differences.loc[("gap - flatten", "accuracy"), "difference"] == pytest.approx(expected)
    coefficients = pd.read_csv(tiny_run / "results/tiny/head/coefficients.tsv", sep="\t")
    assert len(coefficients) == 512 and coefficients["abs_coefficient"].is_monotonic_decreasing


def test_network_outputs(tiny_run):
    """Each base variant's head and consistency; max's head is the head stage's GAP head."""
    heads = pd.read_csv(tiny_run / "results/tiny/network/heads.tsv", sep="\t").set_index("variant")
    gap = pd.read_csv(tiny_run / "results/tiny/head/heads.tsv", sep="\t").set_index("model").loc["gap"]
    assert list(heads.index) == ["max", "aps_circular"]
    assert heads.loc["max", "accuracy"] == gap["accuracy"] and heads.loc["max", "chosen_C"] == gap["chosen_C"]
    features = pd.read_parquet(tiny_run / "results/tiny/features/features.parquet")
    assert pd.read_parquet(tiny_run / "results/tiny/network/max/scores.parquet").equals(features)
    scores = pd.read_parquet(tiny_run / "results/tiny/network/aps_circular/scores.parquet")
    assert scores["image_id"].tolist() == features["image_id"].tolist()
    assert not np.allclose(scores.iloc[:, 3:].to_numpy(), features.iloc[:, 3:].to_numpy())
    consistency = pd.read_csv(tiny_run / "results/tiny/network/consistency.tsv", sep="\t")
    assert len(consistency) == 2 * 2 * 2 and (consistency["n_pairs"] == 4 * 2).all()
    assert (consistency["n_images"] == 4).all()
    crop = consistency[consistency["protocol"] == "crop"]
    assert sorted(set(crop["offset_max"])) == [2, 8]  # bounds s, offsets 0..s−1 (room: 9)
    pairs = pd.read_parquet(tiny_run / "results/tiny/network/pairs.parquet")
    plan = ["protocol", "max_shift", "pass", "image_id", "a_y", "a_x", "b_y", "b_x"]
    by_variant = {v: rows[plan].reset_index(drop=True) for v, rows in pairs.groupby("variant")}
    assert by_variant["max"].equals(by_variant["aps_circular"])  # the very same pairs for every variant
    recount = pairs.groupby(["variant", "protocol", "max_shift"], sort=False).agg(
        consistency=("same_class", "mean"), same=("same_offset", "sum")
    )
    table = consistency.set_index(["variant", "protocol", "max_shift"])
    assert np.allclose(table.loc[recount.index, "consistency"], recount["consistency"])
    assert (table.loc[recount.index, "n_same_offset"] == recount["same"]).all()
    assert (table["consistency_lo"] <= table["consistency"]).all() and (
        table["consistency"] <= table["consistency_hi"]
    ).all()
    differences = pd.read_csv(tiny_run / "results/tiny/network/differences.tsv", sep="\t")
    for row in differences.itertuples():
        expected = table.loc[(row.variant, row.protocol, row.max_shift), "consistency"]
        assert row.difference == pytest.approx(
            expected - table.loc[("max", row.protocol, row.max_shift), "consistency"]
        )
    assert set(differences["variant"]) == {"aps_circular"} and len(differences) == 4
    # APS with circular padding: exactly invariant to circular shifts, whatever the (random) weights
    circular = table.loc["aps_circular"].loc["circular"]
    assert (circular["consistency"] == 1.0).all() and np.allclose(circular["cosine"], 1.0, atol=1e-6)


def test_worst_shift_outputs(tiny_run):
    """Every variant and protocol, every shift −1..0 of the 4 sampled images; the references are the
    unshifted copies the network stage scores too; aps_circular is never fooled by a circular shift."""
    network = tiny_run / "results/tiny/network"
    table = pd.read_csv(network / "worst_shift.tsv", sep="\t").set_index(["variant", "protocol"])
    assert sorted(table.index) == [(v, p) for v in ("aps_circular", "max") for p in ("circular", "crop")]
    assert (table["max_shift"] == 1).all() and (table["n_images"] == 4).all() and (table["n_shifts"] == 3).all()
    images = pd.read_parquet(network / "worst_shift_images.parquet")
    recount = images.groupby(["variant", "protocol"]).agg(fooled=("fooled", "sum"), changed=("n_changed", "sum"))
    assert (table.loc[recount.index, "n_fooled"] == recount["fooled"]).all()
    assert np.allclose(table.loc[recount.index, "changed_share"], recount["changed"] / (4 * 3))
    for column in ("fooled_share", "changed_share", "worst_dp"):
        assert (table[f"{column}_lo"] <= table[column] + 1e-12).all() and (table[column] <= table[f"{column}_hi"]).all()
    # APS with circular padding: never fooled by a circular shift, whatever the (random) weights
    aps = table.loc[("aps_circular", "circular")]
    assert aps["n_fooled"] == 0 and aps["changed_share"] == 0 and 0 < aps["fooled_share_hi"] < 1
    assert aps["worst_dp"] < 1e-4
    # Same seed and count as the consistency's sample: the same images; the crop reference is their
    # centre crop (variant_features' centre.parquet), the circular one the image itself (scores.parquet).
    for variant in ("max", "aps_circular"):
        shards = sorted((network / variant / "worst_shift").glob("*.parquet"))
        assert len(shards) == 1  # invariance.network.shards
        frames = [pd.read_parquet(path) for path in shards]
        copies = pd.concat([frame for frame in frames if len(frame)], ignore_index=True)  # as worst_shift.py
        assert len(copies) == 2 * 4 * 4 and copies.groupby(["protocol", "image_id"])["reference"].sum().eq(1).all()
        reference = copies[copies["reference"]].set_index(["protocol", "image_id"])
        features = reference.columns[reference.columns.str.fullmatch(r"f\d{3}")]
        centre = pd.read_parquet(network / f"{variant}/centre.parquet").set_index("image_id")
        scores = pd.read_parquet(network / f"{variant}/scores.parquet").set_index("image_id")
        crop, circular = reference.loc["crop"], reference.loc["circular"]
        assert sorted(crop.index) == sorted(centre.index)
        np.testing.assert_allclose(crop[features], centre.loc[crop.index, features], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(circular[features], scores.loc[circular.index, features], rtol=1e-4, atol=1e-4)


def test_figures_are_real_pngs(tiny_run):
    pngs = sorted((tiny_run / "results/tiny").rglob("*.png"))
    assert len(pngs) == 1 + 3 + 3 + 6 + 1  # dataset, exercise, invariance, head, network
    for path in pngs:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 150
            assert np.asarray(image.convert("L")).std() > 5  # not blank


def test_provenance_in_every_results_folder(tiny_run):
    manifest_sha = sha256(tiny_run / "results/tiny/dataset/manifest.parquet")
    weights = json.loads((tiny_run / "results/tiny/weights/weights.json").read_text())
    for stage in STAGES:
        record = json.loads((tiny_run / f"results/tiny/{stage}/provenance.json").read_text())
        assert record["manifest_sha256"] == manifest_sha
        assert record["weights_sha256"] == weights["weights_sha256"]
        assert record["config"]["dataset"]["synthetic"]["seed"] == 1
        assert "tensorflow-cpu" in record["packages"] or "tensorflow" in record["packages"]
        assert record["cpu"] and record["cpu_native_bfloat16"] == native_bfloat16()


def test_report_headline_numbers_equal_metrics(tiny_run):
    page = (tiny_run / "results/tiny/report.html").read_text()
    metrics = json.loads((tiny_run / "results/tiny/head/metrics.json").read_text())
    shown = dict(re.findall(r'data-metric="([a-z_]+)">([^<]+)<', page))
    assert float(shown["accuracy"]) == pytest.approx(metrics["accuracy"]["value"], abs=5e-4)
    assert float(shown["roc_auc"]) == pytest.approx(metrics["roc_auc"]["value"], abs=5e-4)
    assert int(shown["n_valid"]) == metrics["n_valid"]
    summary = pd.read_csv(tiny_run / "results/tiny/invariance/summary_by_jitter.tsv", sep="\t")
    ring = summary.query("input == 'ring' and mode == 'random' and jitter == 3 and depth == 4")
    for pooling in ("max", "avg"):
        share = ring.loc[(ring["pooling"] == pooling) & (ring["fill"] == "replicate"), "identical_share"].item()
        assert shown[f"ring_{pooling}_identical"].startswith(f"{100 * share:.1f} %")
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == [
        "Findings",
        "Data",
        "The exercise",
        "Invariance",
        "Whole network: pooling swapped",
        "Features",
        "Heads",
        "Run details",
    ]
    assert page.count("data:image/png;base64,") == 14 and 'src="http' not in page
    assert page.count('download="') == 10  # the full tables, one click away (no skipped files here)
    features = json.loads((tiny_run / "results/tiny/features/features.json").read_text())
    assert f"/ {features['precision']} ({features['precision_reason']})" in html.unescape(page)


def test_a_finished_run_prints_what_it_found(tiny_run):
    output = (tiny_run / "run-output.txt").read_text()
    assert "What run 'tiny' found (95% intervals; its files: results/tiny/):" in output
    accuracy = json.loads((tiny_run / "results/tiny/head/metrics.json").read_text())["accuracy"]
    expected = f"{accuracy['value']:.3f} [{accuracy['ci_low']:.3f}, {accuracy['ci_high']:.3f}]"
    assert f"GAP head accuracy {expected} on 16 validation images (results/tiny/head/metrics.json)" in output
    summary = pd.read_csv(tiny_run / "results/tiny/invariance/summary_by_jitter.tsv", sep="\t")
    ring = summary.query(
        "input == 'ring' and mode == 'random' and jitter == 3 and depth == 4 "
        "and pooling == 'max' and fill == 'replicate'"
    ).iloc[0]
    value, low, high = (
        100 * ring[column] for column in ("identical_share", "identical_share_lo", "identical_share_hi")
    )
    assert f"after 4 max pools: output identical in {value:.1f} % [{low:.1f}, {high:.1f}]" in output
    consistency = pd.read_csv(tiny_run / "results/tiny/network/consistency.tsv", sep="\t")
    for row in consistency[consistency["max_shift"] == 8].itertuples():
        value, low, high = (100 * getattr(row, c) for c in ("consistency", "consistency_lo", "consistency_hi"))
        assert f"{row.variant} {value:.1f} % [{low:.1f}, {high:.1f}]" in output
    assert "Report: results/tiny/report.html" in output


def test_a_partial_or_dry_run_prints_only_what_exists(tiny_run, tmp_path):
    (tmp_path / "results/tiny/head").mkdir(parents=True)
    shutil.copy(tiny_run / "results/tiny/head/metrics.json", tmp_path / "results/tiny/head/metrics.json")
    result = run_workflow(tmp_path, tiny_config(), "--until", "build_manifest")
    output = result.stdout + result.stderr
    assert "GAP head accuracy" in output and "(results/tiny/head/metrics.json)" in output
    assert "Exercise ring" not in output and "Report:" not in output and "Traceback" not in output
    dry = run_workflow(tiny_run, tiny_config(), "-n", "--forcerun", "render_report")
    assert "found (95% intervals" not in dry.stdout + dry.stderr


def test_second_run_does_nothing(tiny_run):
    result = run_workflow(tiny_run, tiny_config(), "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_head_regularisation_reruns_only_head_and_report(tiny_run):
    result = run_workflow(tiny_run, tiny_config(head={"c_grid": [0.1, 10.0]}), "-n")
    jobs = planned_jobs(result.stdout)
    assert {"fit_head", "render_report"} <= set(jobs)
    assert set(jobs) <= {"fit_head", "variant_consistency", "worst_shift", "record_provenance", "render_report", "all"}


def test_changing_trials_does_not_touch_features_or_head(tiny_run):
    result = run_workflow(tiny_run, tiny_config(invariance={"trials_per_jitter": 41}), "-n")
    jobs = planned_jobs(result.stdout)
    assert jobs.get("run_trials") == 3  # grid + two seeds (one rule, so the grid shard reruns too)
    assert set(jobs) <= {"run_trials", "aggregate_trials", "record_provenance", "render_report", "all"}


def test_changing_precision_reruns_features_and_what_uses_them(tiny_run):
    result = run_workflow(tiny_run, tiny_config(features={"precision": "bfloat16"}), "-n")
    jobs = planned_jobs(result.stdout)
    assert jobs.get("extract_features") == 1 and {"merge_features", "variant_features", "fit_head"} <= set(jobs)
    assert not {"run_trials", "aggregate_trials", "build_manifest", "prepare_weights"} & set(jobs)


def test_changing_package_code_reruns_exactly_the_stages_that_run_it(tiny_run, tmp_path):
    """A copy of the workflow, then a change in poolkit/head.py: only the head and what follows rerun.
    The copy's package is put ahead of the installed one (PYTHONPATH), as a developer's edit would be."""
    for part in ("workflow", "scripts", "config"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "environment.yml", tmp_path)
    snakefile = tmp_path / "workflow/Snakefile"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "scripts")}
    result = run_workflow(tiny_run, tiny_config(), "-n", snakefile=snakefile, env=env)
    assert "Nothing to be done" in result.stdout + result.stderr
    head_module = tmp_path / "scripts/poolkit/head.py"
    original = head_module.read_text()
    head_module.write_text(original + "\n# a change\n")
    jobs = planned_jobs(run_workflow(tiny_run, tiny_config(), "-n", snakefile=snakefile, env=env).stdout)
    assert "fit_head" in jobs
    assert set(jobs) <= {"fit_head", "variant_consistency", "worst_shift", "record_provenance", "render_report", "all"}
    head_module.write_text(original)
    caption = tmp_path / "scripts/poolkit/page/captions/roc.rst"  # package data of the report page
    caption.write_text(caption.read_text() + " A change.\n")
    jobs = planned_jobs(run_workflow(tiny_run, tiny_config(), "-n", snakefile=snakefile, env=env).stdout)
    assert set(jobs) == {"render_report", "all"}


def test_bench_full_reads_the_cluster_figures_from_a_runs_benchmarks_and_dag(tiny_run):
    """make bench-full's cluster figures on the tiny run: every job of its DAG has its benchmark file; the
    critical path is a chain of them no longer than the total; more nodes never give a longer wall, and
    none beats the critical path; the cluster recipe's shards make more jobs."""
    sys.path.insert(0, str(ROOT / "tools"))
    import bench_full

    figures = bench_full.run_cluster_figures(tiny_run, tiny_config(), 40)
    own, recipe = figures["own"], figures["cluster_recipe"]
    assert own["jobs"] == 24  # with all: 1 feature shard, 3 trial shards, 2 × 1 network and worst-shift shards
    assert 0 < own["critical_path_s"] < own["total_job_s"] and own["critical_path"][-1] == "all"
    walls = [own["walls_s"][n] for n in ("10", "50", "100")]
    assert walls == sorted(walls, reverse=True) and walls[-1] >= own["critical_path_s"] - 1e-6
    assert recipe["jobs"] == 24 - 1 - 2 * 2 + 16 + 2 * 2 * 16
    assert 0 < figures["tf_startup_s"] < 60 and set(figures["rates_per_s"]) == {"features", "max", "aps_circular"}
