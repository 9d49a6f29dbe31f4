"""Across runs: a failed run, another config and a damaged or deleted file never cost another run its
outputs, and nothing damaged is used silently (issue 28). One extra tiny run beside a copy of the shared
one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from poolkit.synthetic import generate_dataset
from tests.workflow_runs import (
    ROOT,
    one_variant_config,
    planned_jobs,
    run_workflow,
    sha256,
    snakemake_base,
    tiny_config,
)

pytestmark = pytest.mark.slow


def run_hashes(workdir: Path, run: str) -> dict[str, str]:
    """sha256 of every file a run owns (its results and working files), by path."""
    files = [p for top in ("results", "resources") for p in (workdir / top / run).rglob("*") if p.is_file()]
    return {str(p.relative_to(workdir)): sha256(p) for p in files}


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No network: every HTTP(S) request goes to a closed port on 127.0.0.1; kagglehub's TEST endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {
        **env,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
        "KAGGLE_API_ENVIRONMENT": "TEST",
        "KERAS_HOME": str(tmp_path / "keras"),
        "HOME": str(tmp_path),
    }


def images_with_a_split_duplicate(root: Path) -> Path:
    """A synthetic Kaggle-layout folder with one training image copied into valid/ and one image in a
    subfolder that is not read."""
    generate_dataset(root, {"train": 12, "valid": 8}, seed=3)
    train_car = sorted((root / "train/Car").iterdir())[0]
    shutil.copy(train_car, root / "valid/Car/copied-from-train.jpeg")
    (root / "train/Truck/more").mkdir()
    shutil.copy(train_car, root / "train/Truck/more/in-a-subfolder.jpeg")
    return root


@pytest.fixture(scope="module")
def second_run(tiny_run: Path, tmp_path_factory) -> tuple[Path, dict, dict[str, str]]:
    """In a copy of the shared tiny run's folder (its files, dates and Snakemake's records: a finished
    run, this module's own while other tests read the shared one): a failed offline run of the real
    config, then a second config (run 'max_only': the max variant alone, a local dataset with a split
    duplicate, one trial seed, one fold seed for C). Returns the folder, the second config and the tiny
    run's file hashes from before both."""
    tmp = tmp_path_factory.mktemp("runs_apart")
    workdir = tmp / "first"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    before = run_hashes(workdir, "tiny")
    real = [*snakemake_base(workdir), "--configfile", str(ROOT / "config/config.yaml"), "--cores", "2"]
    failed = subprocess.run(real, capture_output=True, text=True, env=offline_env(tmp), timeout=600)
    assert failed.returncode != 0 and "ERROR: cannot download Kaggle dataset" in failed.stdout + failed.stderr
    (workdir / "failed-real-run.txt").write_text(failed.stdout + failed.stderr)
    config = one_variant_config(
        "max",
        run={"name": "max_only"},
        dataset={"source": "local", "local": {"path": str(images_with_a_split_duplicate(tmp / "src"))}},
        invariance={"seeds": [0]},  # a lighter second config: its head is fitted three times in this module
        head={"c_seeds": 1},
    )
    run_workflow(workdir, config)
    return workdir, config, before


def test_a_failed_real_run_and_another_config_leave_the_first_run_intact(second_run):
    workdir, _, before = second_run
    assert run_hashes(workdir, "tiny") == before
    dry = run_workflow(workdir, tiny_config(), "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
    assert not (workdir / "results/car_or_truck/report.html").exists()  # the failed run made no report


def test_the_max_variant_alone_runs_to_the_report(second_run):
    workdir, _, _ = second_run
    page = (workdir / "results/max_only/report.html").read_text()
    assert 'data-run="max_only"' in page and "results/max_only/" in page
    differences = pd.read_csv(workdir / "results/max_only/network/differences.tsv", sep="\t")
    assert differences.empty and list(differences.columns)[:3] == ["variant", "protocol", "max_shift"]


def test_split_duplicates_and_unread_files_are_reported(second_run):
    workdir, _, _ = second_run
    counts = json.loads((workdir / "results/max_only/dataset/counts.json").read_text())
    assert counts["n_split_duplicates"] == 1
    duplicates = pd.read_csv(workdir / "results/max_only/dataset/duplicates.tsv", sep="\t")
    assert duplicates["valid_images"].tolist() == ["valid/Car/copied-from-train.jpeg"]
    skipped = pd.read_csv(workdir / "results/max_only/dataset/skipped.tsv", sep="\t")
    assert skipped["image_id"].tolist() == ["train/Truck/more/in-a-subfolder.jpeg"]
    page = (workdir / "results/max_only/report.html").read_text()
    assert "Image contents found in both splits (by sha256): 1" in page
    log = (workdir / "logs/max_only/build_manifest/build_manifest.log").read_text()
    assert "WARNING: 1 image content(s) are in both splits" in log


def test_deleted_outputs_are_rebuilt_by_the_same_command(second_run):
    workdir, config, _ = second_run
    lost = [workdir / "results/max_only/head/model.pkl", workdir / "results/max_only/dataset/examples.png"]
    kept = {p: p.read_bytes() for p in lost}
    for path in lost:
        path.unlink()
    rebuilt = run_workflow(workdir, config)
    jobs = planned_jobs(rebuilt.stdout + rebuilt.stderr)  # the jobs the run ran
    assert {"fit_head", "dataset_examples"} <= set(jobs) and "extract_features" not in jobs
    assert {p: p.read_bytes() for p in lost} == kept  # the same bytes again


def test_a_flipped_byte_in_the_features_stops_the_head_stage(second_run):
    workdir, config, _ = second_run
    features = workdir / "results/max_only/features/features.parquet"
    original, stat = features.read_bytes(), features.stat()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    features.write_bytes(bytes(damaged))
    os.utime(features, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the date kept: nothing looks changed
    try:
        result = run_workflow(workdir, config, "--forcerun", "fit_head", "--until", "fit_head", check=False)
        log = (workdir / "logs/max_only/fit_head/fit_head.log").read_text()
    finally:
        features.write_bytes(original)
    assert result.returncode != 0
    errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "features.parquet is damaged" in errors[0] and "Remedy: delete" in errors[0]
