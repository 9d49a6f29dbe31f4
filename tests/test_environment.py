"""requirements.txt (pip) and environment.yml (conda) pin the same versions."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_from_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt line without an exact pin: {line}"
            pins[canonical(name)] = version
    return pins


def pins_from_environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    pins = {}
    for spec in pip_section:
        name, _, version = spec.partition("==")
        assert version, f"environment.yml entry without an exact pin: {spec}"
        pins[canonical(name)] = version
    return pins


def test_environment_and_requirements_agree():
    req, env = pins_from_requirements(), pins_from_environment()
    disagreements = {name: (env[name], req.get(name)) for name in env if req.get(name) != env[name]}
    assert not disagreements, f"environment.yml vs requirements.txt: {disagreements}"


def test_key_dependencies_are_pinned():
    req = pins_from_requirements()
    assert req["tensorflow-cpu"].startswith("2.21.") and req["snakemake"].startswith("9.")
    for name in ("pandas", "scikit-learn", "seaborn", "matplotlib", "pyarrow", "keras"):
        assert name in req and name in pins_from_environment()


def test_python_version_matches():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
