"""The provenance record (poolkit.provenance): what a run records of its code, packages and machine."""

import subprocess
from importlib import metadata
from pathlib import Path

from poolkit.provenance import git_commit, package_versions, provenance_record

ROOT = Path(__file__).resolve().parents[1]


def test_the_record_names_the_packages_the_commit_and_the_digests(tmp_path):
    weights = {"weights_sha256": "w" * 64, "source": "random"}
    record = provenance_record({"run": {"name": "x"}}, root=tmp_path, manifest_sha256="m" * 64, weights=weights)
    assert record["config"] == {"run": {"name": "x"}} and record["git_commit"] == "unknown"  # not a checkout
    assert (record["manifest_sha256"], record["weights_sha256"], record["weights_source"]) == (
        "m" * 64,
        "w" * 64,
        "random",
    )
    assert package_versions()["numpy"] == metadata.version("numpy") == record["packages"]["numpy"]


def test_the_commit_is_the_checkouts_marked_dirty_where_tracked_files_changed():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode:  # an installed copy, not a checkout
        assert git_commit(ROOT) == "unknown"
        return
    assert git_commit(ROOT).removesuffix("-dirty") == head.stdout.strip()
