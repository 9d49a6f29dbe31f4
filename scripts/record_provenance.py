#!/usr/bin/env python
"""Record provenance (config, package versions, data and weights hashes, git commit)
in results/provenance.json and in every stage's results folder."""

import argparse
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from poolkit import cli
from poolkit.io import file_digest, read_json, write_json
from poolkit.machine import cpu_model, native_bfloat16

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
    """The workflow's git commit (with '-dirty' for local changes), or 'unknown'."""
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


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--config-json", required=True, help="the validated config as JSON text")
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights-info", required=True)
    p.add_argument("--out", nargs="+", required=True, help="provenance.json files to write")
    return p


def main(args: argparse.Namespace) -> None:

    weights = read_json(args.weights_info)
    record = {
        "config": json.loads(args.config_json),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_native_bfloat16": native_bfloat16(),
        "git_commit": git_commit(Path(__file__).resolve().parents[1]),
        "manifest_sha256": file_digest(args.manifest),
        "weights_sha256": weights["weights_sha256"],
        "weights_source": weights["source"],
    }
    for path in args.out:
        write_json(record, path)


if __name__ == "__main__":
    cli.run(build_parser, main)
