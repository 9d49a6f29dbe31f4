"""A run's provenance: its config, the packages and machine it ran on, its data and weights digests,
and the workflow's git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .machine import cpu_model, native_bfloat16

#: The packages results depend on, whose installed versions are recorded.
PACKAGES = [
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "seaborn",
    "pillow",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "kagglehub",
    "requests",
    "jsonschema",
]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages results depend on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(root: Path) -> str:
    """The git commit of the checkout at ``root`` (with '-dirty' for local changes), or 'unknown'."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance_record(
    config: dict[str, Any], *, root: Path, manifest_sha256: str, weights: dict[str, Any]
) -> dict[str, Any]:
    """The provenance record of a run of ``config`` from the workflow at ``root``, given its manifest's
    digest and its weights' description (``weights.json``)."""
    return {
        "config": config,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_native_bfloat16": native_bfloat16(),
        "git_commit": git_commit(root),
        "manifest_sha256": manifest_sha256,
        "weights_sha256": weights["weights_sha256"],
        "weights_source": weights["source"],
    }
