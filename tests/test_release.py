"""Reuse and citation: a licence, a citation file that validates, one version everywhere."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

import poolkit

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_in_package_citation_and_changelog():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # An [Unreleased] section on top (Keep a Changelog) holds what the next version will bring.
    newest = re.search(r"^## \[(?!Unreleased\])([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert poolkit.__version__ == version == str(citation["version"]) == newest.group(1)


def test_the_licence_states_the_terms_of_data_and_weights():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "car-or-truck" in text and "VGG16 ImageNet weights" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


@pytest.mark.network
def test_citation_cff_validates():
    """cffconvert's schema check, run in its own throw-away environment (its pins clash with ours)."""
    uv = ROOT / ".tools/uv/bin/uv"
    uv_cmd = str(uv) if uv.is_file() else shutil.which("uv")
    if uv_cmd is None:
        pytest.skip("uv is not installed")
    result = subprocess.run(
        [
            uv_cmd,
            "tool",
            "run",
            "--from",
            "cffconvert==2.0.0",
            "cffconvert",
            "--validate",
            "-i",
            str(ROOT / "CITATION.cff"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr


README_LIMIT = 20_000  # bytes: what a user reads in two minutes; reference material lives in docs/


def test_the_readme_is_short_and_every_relative_link_resolves():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= README_LIMIT
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_the_readme_pins_the_current_release_and_the_release_step_is_documented():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    readme = (ROOT / "README.md").read_text()
    tags = set(re.findall(r'(?:@|tag="|--tag )(v\d+\.\d+\.\d+)', readme))
    assert tags == {f"v{version}"}, tags
    assert "git tag -a vX.Y.Z" in (ROOT / "docs/releasing.md").read_text()
