"""Running the real Snakefile on the tiny config in a scratch folder."""

from __future__ import annotations

import copy
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from poolkit.io import atomic_path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / ".test/config/config.yaml"


def tiny_config(**changes: dict[str, Any]) -> dict[str, Any]:
    """The tiny test config with some sections updated."""
    config = copy.deepcopy(yaml.safe_load(TINY.read_text()))
    for section, values in changes.items():
        config.setdefault(section, {}).update(values)
    return config


def one_variant_config(variant: str, **changes: dict[str, Any]) -> dict[str, Any]:
    """The tiny config (with ``changes``, as :func:`tiny_config`) with one of its two network variants: for
    the whole runs that repeat the tiny run elsewhere (sharded; the module recipe on SLURM), each rule still
    runs and the network stage's two VGG16 jobs per variant run once, not twice (about 25 s of CPU a run).
    Every file of that variant, and its rows of the tables over variants (:func:`variant_rows_that_differ`),
    equal the tiny run's."""
    config = tiny_config(**changes)
    assert variant in config["invariance"]["network"]["variants"]
    config["invariance"]["network"]["variants"] = [variant]
    return config


def sharded_config() -> dict[str, Any]:
    """The shared sharded run's config (tests/conftest.py): 2 feature shards and 3 network shards of the APS
    variant alone (APS picks a phase per image: a shard's set of images must not change it)."""
    config = one_variant_config("aps_circular", features={"shards": 2})
    config["invariance"]["network"]["shards"] = 3
    return config


NETWORK_TABLES = ("consistency.tsv", "heads.tsv", "worst_shift.tsv")


def variant_rows_that_differ(first: Path, second: Path, variant: str, run: str = "tiny") -> list[str]:
    """The tables over network variants whose header or rows of ``variant`` differ between two run
    folders, or that have no row of it (each table's first column names the variant)."""

    def rows(folder: Path, table: str) -> list[str]:
        lines = (folder / f"results/{run}/network/{table}").read_text().splitlines()
        return [lines[0], *(line for line in lines[1:] if line.split("\t", 1)[0] == variant)]

    differ = []
    for table in NETWORK_TABLES:
        first_rows = rows(first, table)
        if len(first_rows) < 2 or first_rows != rows(second, table):
            differ.append(table)
    return differ


def snakemake_base(workdir: Path, snakefile: Path = ROOT / "workflow/Snakefile") -> list[str]:
    """``python -m snakemake`` on ``snakefile`` inside ``workdir``: every test's command starts so."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir)]


def snakemake_cmd(
    workdir: Path, config: dict[str, Any], *extra: str, snakefile: Path = ROOT / "workflow/Snakefile"
) -> list[str]:
    """The command that runs the workflow (``snakefile``) on ``config`` inside ``workdir``. The config file
    is named by its content and written whole (a temporary file, then renamed): tests in other pytest-xdist
    workers may run other configs in the same folder at the same time."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config)
    config_file = workdir / f"test-config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    with atomic_path(config_file) as part:
        part.write_text(text)
    return [*snakemake_base(workdir, snakefile), "--configfile", str(config_file), "--cores", "2", *extra]


def run_workflow(
    workdir: Path,
    config: dict[str, Any],
    *extra: str,
    check: bool = True,
    snakefile: Path = ROOT / "workflow/Snakefile",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run (or dry-run, with ``-n``) the workflow and return the finished process (``env``: the
    environment variables, default this process's)."""
    command = snakemake_cmd(workdir, config, *extra, snakefile=snakefile)
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run (what it plans) or of a run (what it ran) into rule → count;
    empty where there is nothing to do."""
    jobs: dict[str, int] = {}
    lines = output.splitlines()
    if "Job stats:" not in output:
        return jobs
    start = lines.index("Job stats:") + 3
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def kill_9_during_features(workdir: Path, config: dict[str, Any], *extra: str) -> bool:
    """Start the workflow (``extra``: more options) from scratch in ``workdir`` and, once its first
    feature job has begun reading images, kill Snakemake and every job it started with SIGKILL.
    Returns whether the merged features were still missing at that moment (the kill interrupted the
    stage)."""
    log = workdir / f"logs/{config['run']['name']}/extract_features/000.log"
    process = subprocess.Popen(
        snakemake_cmd(workdir, config, *extra),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (log.exists() and "[features" in log.read_text()):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # snakemake and every job it started
    process.wait()
    started = log.exists() and "[features" in log.read_text()
    return started and not (workdir / f"results/{config['run']['name']}/features/features.parquet").exists()


def sha256(path: Path) -> str:
    """The file's sha256 (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_that_differ(first: Path, second: Path, relative_paths: Iterable[str]) -> list[str]:
    """The files (paths relative to both run folders) whose bytes differ between ``first`` and ``second``."""
    return [rel for rel in relative_paths if sha256(first / rel) != sha256(second / rel)]
