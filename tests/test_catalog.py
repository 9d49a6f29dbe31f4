"""What the Snakemake workflow catalog and its template run on this repository: the rule graph of
`.test/`, Snakemake's own report archive, and a catalog file that claims only what CI tests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.workflow_runs import ROOT, snakemake_base

RULES = ROOT / "workflow/rules"


def rule_names() -> set[str]:
    """Every rule of the workflow, from its rule files and Snakefile."""
    text = "\n".join(p.read_text() for p in [ROOT / "workflow/Snakefile", *RULES.glob("*.smk")])
    return set(re.findall(r"^rule (\w+):", text, re.M))


@pytest.mark.integration
def test_the_catalogs_rule_graph_command_draws_every_rule():
    """The catalog's exact command (run from the repository root, under its 15-second limit there)."""
    command = [sys.executable, "-m", "snakemake", "-s", "workflow/Snakefile", "-c", "1", "-d", ".test"]
    result = subprocess.run([*command, "--forceall", "--rulegraph"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    drawn = set(re.findall(r'label = "(\w+)"', result.stdout))
    assert drawn == rule_names() - {"fetch_inputs", "download_dataset", "download_weights"}, drawn
    assert not (ROOT / ".test/results").exists()  # drawing runs nothing


def reported_files() -> set[str]:
    """The file names the rules mark with report(): what Snakemake's report must hold."""
    text = "\n".join(p.read_text() for p in RULES.glob("*.smk"))
    return {Path(name).name for name in re.findall(r'report\(\s*results\("([^"]+)"\)', text)}


@pytest.mark.slow
def test_snakemakes_report_archive_holds_every_figure_with_its_caption(tiny_run, tmp_path):
    archive = tmp_path / "report.zip"
    result = subprocess.run([*snakemake_base(tiny_run), "--report", str(archive)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        page = bundle.read("report/report.html").decode()
    entries = json.loads(re.search(r"var results = (\{.*?\});\n", page, re.S).group(1))
    assert {entry["name"] for entry in entries.values()} == reported_files()
    for key, entry in entries.items():
        assert key.startswith("results/tiny/")
        assert f"report/{entry['data_uri']}" in names, key
        assert len(re.sub("<[^>]+>", "", entry["caption"]).strip()) > 40, key  # a real caption
    assert "results/tiny/report.html" in page  # the workflow description names the run's page


def test_the_catalog_file_claims_only_tested_deployments():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    deployments = catalog["usage"]["software-stack-deployment"]
    assert deployments == {"conda": False, "apptainer": False, "apptainer+conda": False}
    assert catalog["usage"]["report"] is True  # tested above
    for required in ("workflow/Snakefile", "config/README.md", "workflow/schemas/config.schema.yaml"):
        assert (ROOT / required).is_file()
