"""Local inputs checked when the workflow is read and tracked for reruns; the offline-node recipe
(`make fetch`, then everything else without network), on the real Snakefile."""

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import Route, jpeg_bytes, make_layout, serve, zip_of
from tests.workflow_runs import ROOT, planned_jobs, run_workflow, snakemake_base, tiny_config


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]


@pytest.mark.integration
@pytest.mark.parametrize("empty", [False, True])
@pytest.mark.parametrize("key", ["dataset.local.path", "weights.path"])
def test_a_missing_local_input_stops_the_dry_run_naming_key_and_path(tmp_path, key, empty):
    path = "" if empty else str(tmp_path / "not-there")
    if key == "weights.path":
        config = tiny_config(weights={"source": "path", "path": path})
    else:
        config = tiny_config(dataset={"source": "local", "local": {"path": path}})
    result = run_workflow(tmp_path / "work", config, "-n", check=False)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and f"'{key}'" in errors[0] and path in errors[0], result.stdout + result.stderr
    assert "MissingInputException" not in result.stdout + result.stderr
    assert not (tmp_path / "work/results").exists() and not (tmp_path / "work/resources").exists()


@pytest.mark.integration
def test_existing_local_inputs_pass_the_check(tmp_path):
    make_layout(tmp_path / "src", per_class=1)
    (tmp_path / "w.h5").write_bytes(b"checked when prepare_weights runs, not here")
    config = tiny_config(
        dataset={"source": "local", "local": {"path": str(tmp_path / "src")}},
        weights={"source": "path", "path": str(tmp_path / "w.h5")},
    )
    jobs = planned_jobs(run_workflow(tmp_path / "work", config, "-n").stdout)
    assert {"get_dataset", "prepare_weights", "render_report"} <= set(jobs)


@pytest.mark.slow
def test_a_change_to_the_local_dataset_reruns_get_dataset_and_what_follows(tmp_path):
    src, work = tmp_path / "src", tmp_path / "work"
    make_layout(src, per_class=3)
    config = tiny_config(dataset={"source": "local", "local": {"path": str(src), "mode": "copy"}})
    dataset_jobs = {"get_dataset": 1, "build_manifest": 1}

    def plan() -> dict[str, int]:
        return planned_jobs(run_workflow(work, config, "-n", "--until", "build_manifest").stdout)

    def run_to_the_manifest() -> tuple[dict[str, int], list[str]]:
        """The jobs that ran (the run's own job stats), and the manifest's images."""
        result = run_workflow(work, config, "--until", "build_manifest")
        manifest = pd.read_parquet(work / "results/tiny/dataset/manifest.parquet")
        return planned_jobs(result.stdout + result.stderr), sorted(manifest["image_id"])

    _, first = run_to_the_manifest()
    assert len(first) == 12 and plan() == {}  # unchanged: nothing to do

    added = src / "train/Car/added.jpeg"
    added.write_bytes(jpeg_bytes(101))
    assert run_to_the_manifest() == (dataset_jobs, sorted([*first, "train/Car/added.jpeg"]))
    added.unlink()
    assert run_to_the_manifest() == (dataset_jobs, first)

    changed = src / "valid/Truck/truck0.jpeg"
    changed.write_bytes(jpeg_bytes(202))
    assert run_to_the_manifest() == (dataset_jobs, first)
    manifest = pd.read_parquet(work / "results/tiny/dataset/manifest.parquet").set_index("image_id")
    assert manifest.loc["valid/Truck/truck0.jpeg", "sha256"] == hashlib.sha256(jpeg_bytes(202)).hexdigest()
    assert plan() == {}  # the rerun recorded the dataset as it is now

    # Downstream of the dataset, the whole DAG would rerun after a change (not only the manifest).
    (src / "train/Truck/truck1.jpeg").unlink()
    jobs = planned_jobs(run_workflow(work, config, "-n").stdout)
    assert {"get_dataset", "build_manifest", "extract_features", "fit_head", "render_report"} <= set(jobs)


# --------------------------------------------------------------------------- offline compute nodes
def legacy_notop_h5(path: Path) -> bytes:
    """A seeded random VGG16 notop in the legacy .h5 layout of Keras' ImageNet file."""
    code = (
        "import sys, h5py; from poolkit import tfsetup; tfsetup.configure(2)\n"
        "from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group\n"
        "from poolkit.weights import random_model\n"
        "with h5py.File(sys.argv[1], 'w') as f: save_weights_to_hdf5_group(f, random_model(7))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, capture_output=True)
    return path.read_bytes()


def fetch_command(config_file: Path) -> list[str]:
    """The snakemake arguments of `make fetch CONFIG=...`, read from the Makefile itself."""
    result = subprocess.run(
        ["make", "-s", "-n", "fetch", f"CONFIG={config_file}", "SNAKEMAKE=snakemake"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("snakemake ")]
    assert len(commands) == 1, result.stdout
    return commands[0][1:]


def cache_hashes(cache: Path) -> dict[str, str]:
    """sha256 of every file in the download cache, by path."""
    return {
        str(p.relative_to(cache)): hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.rglob("*") if p.is_file()
    }


def checkout_copy(dest: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the workflow (a user's checkout): its Snakefile, and the environment that makes its
    jobs import its own package."""
    dest.mkdir()
    for name in ("workflow", "scripts", "environment.yml"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(dest / name)], check=True)
    return dest / "workflow/Snakefile", {"PYTHONPATH": str(dest / "scripts")}


def update_download_and_dataset_code(checkout: Path) -> None:
    """A new statement in the download, cache and dataset modules, as a code update would bring."""
    for module in ("download.py", "dataset.py", "cache.py"):
        with open(checkout / "scripts/poolkit" / module, "a") as handle:
            handle.write("\nUPDATED_IN_A_RELEASE = True\n")


@pytest.mark.slow
def test_fetch_then_a_code_update_then_everything_runs_without_network(tmp_path):
    files = make_layout(tmp_path / "src", per_class=10)  # 40 images
    archive = zip_of(files)
    weights = legacy_notop_h5(tmp_path / "notop.h5")
    md5 = hashlib.md5(weights).hexdigest()
    work = tmp_path / "work"
    work.mkdir()
    snakefile, package = checkout_copy(tmp_path / "checkout")
    # No cached Keras copy stands in for the download; the jobs import the checkout's own package.
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), **package}
    base = [*snakemake_base(work, snakefile), "--cores", "2"]
    with serve({"/data.zip": Route(archive), "/notop.h5": Route(weights)}) as url:
        config = tiny_config(
            dataset={"source": "url", "url": {"url": f"{url}/data.zip", "sha256": hashlib.sha256(archive).hexdigest()}},
            weights={"source": "imagenet", "imagenet": {"url": f"{url}/notop.h5", "md5": md5}},
        )
        config_file = work / "test-config.yaml"
        config_file.write_text(yaml.safe_dump(config))
        fetched = subprocess.run([*base, *fetch_command(config_file)], env=env, capture_output=True, text=True)
        assert fetched.returncode == 0, fetched.stderr[-3000:]
    # The server is gone, and any HTTP(S) request would go to a closed port.
    offline = {**env, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        offline.pop(name, None)
    cache = work / "resources/cache"
    assert (cache / f"imagenet/{md5}/notop.h5").read_bytes() == weights
    assert (cache / f"url/{hashlib.sha256(archive).hexdigest()}/archive").read_bytes() == archive
    fetched_hashes = cache_hashes(cache)
    assert not (work / "results/tiny/features").exists()  # the fetch ran the downloads only
    plan = subprocess.run([*base, "--configfile", str(config_file), "-n"], env=offline, capture_output=True, text=True)
    jobs = planned_jobs(plan.stdout)
    assert "render_report" in jobs and not {"download_dataset", "download_weights"} & set(jobs)
    # A code update to the download and dataset modules reruns the dataset stage, from the cache.
    # The stages that read the downloads run offline (what follows them never reads the network).
    update_download_and_dataset_code(tmp_path / "checkout")
    updated = [*base, "--configfile", str(config_file), "--until", "build_manifest", "prepare_weights"]
    rest = subprocess.run(updated, env=offline, capture_output=True, text=True)
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert "get_dataset" in rest.stderr and "download_dataset" not in rest.stderr
    assert cache_hashes(cache) == fetched_hashes  # nothing deleted or rewritten
    info = yaml.safe_load((work / "results/tiny/weights/weights.json").read_text())
    assert info["source"] == "imagenet" and info["source_md5"] == md5
    assert len(pd.read_parquet(work / "results/tiny/dataset/manifest.parquet")) == 40
    # Settings the chosen source does not use rerun neither the dataset nor the weights stage.
    unused = {**config, "dataset": {**config["dataset"], "synthetic": {"seed": 99}, "local": {"mode": "link"}}}
    config_file.write_text(yaml.safe_dump(unused))
    again = subprocess.run([*updated, "-n"], env=offline, capture_output=True, text=True)
    assert again.returncode == 0 and planned_jobs(again.stdout) == {}, again.stdout[-2000:]
