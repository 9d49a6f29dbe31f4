"""requirements.txt (pip) and environment.yml (conda) pin the same versions."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_from(path: Path) -> dict[str, str]:
    """Exact pins of a pip requirements file, by canonical name."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{path.name} line without an exact pin: {line}"
            pins[canonical(name)] = version
    return pins


def pins_from_requirements() -> dict[str, str]:
    return pins_from(ROOT / "requirements.txt")


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


def test_gpu_variant_pins_the_cpu_versions_and_tensorflow_with_cuda_at_the_same_version():
    cpu, gpu = pins_from(ROOT / "requirements.txt"), pins_from(ROOT / "requirements-gpu.txt")
    tf_version = cpu.pop("tensorflow-cpu")
    assert gpu.pop("tensorflow[and-cuda]") == tf_version
    cuda = {name: gpu.pop(name) for name in list(gpu) if name.startswith("nvidia-")}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12"} <= set(cuda)
    assert gpu == cpu, "requirements-gpu.txt and requirements.txt differ beyond TensorFlow and the CUDA wheels"


def test_gpu_conda_file_matches_the_cpu_one_but_tensorflow():
    def pins(name: str) -> dict[str, str]:
        env = yaml.safe_load((ROOT / name).read_text())
        specs = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
        return {canonical(s.partition("==")[0]): s.partition("==")[2] for s in specs}

    cpu, gpu = pins("environment.yml"), pins("environment-gpu.yml")
    assert gpu.pop("tensorflow[and-cuda]") == cpu.pop("tensorflow-cpu")
    assert gpu == cpu
