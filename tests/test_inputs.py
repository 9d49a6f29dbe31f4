"""Local inputs checked when the workflow is read and tracked for reruns, on the real Snakefile."""

import hashlib
import subprocess

import pandas as pd
import pytest

from tests.helpers import jpeg_bytes, make_layout
from tests.workflow_runs import planned_jobs, run_workflow, tiny_config


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]


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


def test_existing_local_inputs_pass_the_check(tmp_path):
    make_layout(tmp_path / "src", per_class=1)
    (tmp_path / "w.h5").write_bytes(b"checked when get_weights runs, not here")
    config = tiny_config(
        dataset={"source": "local", "local": {"path": str(tmp_path / "src")}},
        weights={"source": "path", "path": str(tmp_path / "w.h5")},
    )
    jobs = planned_jobs(run_workflow(tmp_path / "work", config, "-n").stdout)
    assert {"get_dataset", "get_weights", "render_report"} <= set(jobs)


def test_a_change_to_the_local_dataset_reruns_get_dataset_and_what_follows(tmp_path):
    src, work = tmp_path / "src", tmp_path / "work"
    make_layout(src, per_class=3)
    config = tiny_config(dataset={"source": "local", "local": {"path": str(src), "mode": "copy"}})

    def plan() -> dict[str, int]:
        return planned_jobs(run_workflow(work, config, "-n", "--until", "build_manifest").stdout)

    def manifest_ids() -> list[str]:
        run_workflow(work, config, "--until", "build_manifest")
        return sorted(pd.read_parquet(work / "results/dataset/manifest.parquet")["image_id"])

    first = manifest_ids()
    assert len(first) == 12 and plan() == {}  # unchanged: nothing to do

    added = src / "train/Car/added.jpeg"
    added.write_bytes(jpeg_bytes(101))
    assert plan() == {"get_dataset": 1, "build_manifest": 1}
    assert manifest_ids() == sorted([*first, "train/Car/added.jpeg"]) and plan() == {}

    added.unlink()
    assert plan() == {"get_dataset": 1, "build_manifest": 1}
    assert manifest_ids() == first and plan() == {}

    changed = src / "valid/Truck/truck0.jpeg"
    changed.write_bytes(jpeg_bytes(202))
    assert plan() == {"get_dataset": 1, "build_manifest": 1}
    manifest_ids()
    manifest = pd.read_parquet(work / "results/dataset/manifest.parquet").set_index("image_id")
    assert manifest.loc["valid/Truck/truck0.jpeg", "sha256"] == hashlib.sha256(jpeg_bytes(202)).hexdigest()
    assert plan() == {}

    # Downstream of the dataset, the whole DAG would rerun after a change (not only the manifest).
    (src / "train/Truck/truck1.jpeg").unlink()
    jobs = planned_jobs(run_workflow(work, config, "-n").stdout)
    assert {"get_dataset", "build_manifest", "extract_features", "fit_head", "render_report"} <= set(jobs)
