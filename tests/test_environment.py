"""One declaration (pyproject.toml), one universal lock (uv.lock), conda files generated from it; the
Makefile refuses an unsupported Python; a failed GPU build never touches the CPU environment."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
#: The platforms the README promises, as (sys_platform, platform_machine, uv's --python-platform).
PLATFORMS = [
    ("linux", "x86_64", "x86_64-unknown-linux-gnu"),
    ("linux", "aarch64", "aarch64-unknown-linux-gnu"),
    ("darwin", "arm64", "aarch64-apple-darwin"),
    ("win32", "AMD64", "x86_64-pc-windows-msvc"),
]
PYTHONS = ["3.11", "3.12", "3.13"]
#: Packages with compiled code: they must come as wheels (a pure-Python sdist such as connection-pool may build).
BINARY_ONLY = [
    "tensorflow",
    "tensorflow-cpu",
    "numpy",
    "scipy",
    "h5py",
    "pyarrow",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "pillow",
    "grpcio",
    "ml-dtypes",
]


def uv() -> str:
    """The uv the Makefile uses (or one on PATH)."""
    local = ROOT / ".tools/uv/bin/uv"
    found = str(local) if local.is_file() else shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (make installs it into .tools/)")
    return found


def tensorflow_builds(sys_platform: str, machine: str, python: str = "3.11") -> list[str]:
    """The TensorFlow requirements pyproject.toml installs on a platform."""
    env = {"sys_platform": sys_platform, "platform_machine": machine, "python_version": python}
    requirements = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    return [
        r.name for r in requirements if r.name.startswith("tensorflow") and (r.marker is None or r.marker.evaluate(env))
    ]


@pytest.mark.parametrize(("sys_platform", "machine", "_"), PLATFORMS)
def test_exactly_one_tensorflow_build_on_every_platform(sys_platform, machine, _):
    """tensorflow-cpu where it is published (Linux and Windows on x86-64), tensorflow elsewhere."""
    expected = "tensorflow-cpu" if machine in ("x86_64", "AMD64") else "tensorflow"
    assert tensorflow_builds(sys_platform, machine) == [expected]


def test_the_two_tensorflow_markers_cover_every_platform_once():
    """Also on platforms the README does not promise: never both builds, never none."""
    for sys_platform, machine in itertools.product(
        ["linux", "darwin", "win32", "freebsd"], ["x86_64", "AMD64", "aarch64", "arm64", "ppc64le"]
    ):
        assert len(tensorflow_builds(sys_platform, machine)) == 1, (sys_platform, machine)


def test_both_builds_and_the_gpu_extra_share_one_version():
    requirements = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    (gpu,) = [Requirement(line) for line in PYPROJECT["project"]["optional-dependencies"]["gpu"]]
    versions = {str(r.specifier) for r in requirements if r.name.startswith("tensorflow")} | {str(gpu.specifier)}
    assert versions == {"==2.21.0"} and gpu.name == "tensorflow" and gpu.extras == {"and-cuda"}


def test_the_lock_pins_the_declared_versions_for_every_promised_platform():
    locked = {package["name"]: package["version"] for package in LOCK["package"]}
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(locked[requirement.name]), (requirement, locked[requirement.name])
    assert SpecifierSet(LOCK["requires-python"]) == SpecifierSet(PYPROJECT["project"]["requires-python"])
    required = [Marker(m) for m in PYPROJECT["tool"]["uv"]["required-environments"]]
    for sys_platform, machine, _ in PLATFORMS:
        env = {"sys_platform": sys_platform, "platform_machine": machine}
        assert any(marker.evaluate(env) for marker in required), (sys_platform, machine)


@pytest.mark.integration
def test_conda_files_are_generated_from_the_declaration():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/conda_env.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_the_conda_generator_notices_a_stale_file(tmp_path):
    """The check above can fail: a copy of the project with an edited pin is reported out of date."""
    for name in ("pyproject.toml", "environment.yml", "environment-gpu.yml", "tools/conda_env.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    text = (tmp_path / "pyproject.toml").read_text().replace('"keras==3.15.1"', '"keras==3.15.2"')
    (tmp_path / "pyproject.toml").write_text(text)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "tools/conda_env.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 1 and "environment.yml is out of date" in result.stderr


def unsupported_pythons() -> list[str]:
    """Interpreters of Python 3.10 or 3.14 that run here (on PATH, or pyenv's builds)."""
    candidates = [shutil.which(f"python{v}") for v in ("3.10", "3.14")]
    candidates += sorted(map(str, Path.home().glob(".pyenv/versions/3.1[04]*/bin/python3.1[04]")))
    return [
        c
        for c in dict.fromkeys(filter(None, candidates))
        if subprocess.run([c, "--version"], capture_output=True).returncode == 0
    ]


@pytest.mark.integration
def test_make_refuses_an_unsupported_python_in_one_line(tmp_path):
    pythons = unsupported_pythons()
    if not pythons:
        pytest.skip("no Python 3.10 or 3.14 here")
    version = subprocess.run(
        [pythons[0], "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    # As a user types it: not as a sub-make of `make test` (which would add "Entering directory").
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(
        ["make", "demo", f"PYTHON={pythons[0]}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines
    assert f"Python {version} is not supported" in lines[0] and "3.11, 3.12 or 3.13" in lines[0]
    assert not (tmp_path / "venv").exists()


@pytest.mark.integration
def test_a_failed_gpu_build_removes_only_the_gpu_environment(tmp_path):
    """No network for uv (offline, empty cache): the GPU build fails, its folder is gone, .venv works."""
    gpu = tmp_path / "venv-gpu"
    env = {**os.environ, "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    python = f"PYTHON={Path(sys.executable).resolve()}"
    result = subprocess.run(
        ["make", "install-gpu", f"VENV_GPU={gpu}", python, f"UV={uv()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0
    assert "the GPU environment could not be built" in result.stderr and "is untouched" in result.stderr
    assert not gpu.exists()
    check = subprocess.run([sys.executable, "-c", "import poolkit, snakemake"], capture_output=True)
    assert check.returncode == 0 and (Path(sys.prefix) / ".installed").is_file()


@pytest.mark.integration
def test_the_gpu_environment_takes_tensorflow_with_cuda_and_not_the_cpu_build(tmp_path):
    """What `make install-gpu` would install (uv's dry run of the locked GPU extra, nothing downloaded)."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv-gpu")}
    result = subprocess.run(
        [
            uv(),
            "sync",
            "--frozen",
            "--dry-run",
            "--extra",
            "gpu",
            "--no-install-package",
            "tensorflow-cpu",
            "--python",
            sys.executable,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    planned = result.stdout + result.stderr
    assert re.search(r"\+ tensorflow==2\.21\.0", planned) and re.search(r"\+ nvidia-cudnn-cu12==", planned)
    assert "tensorflow-cpu" not in planned


@pytest.mark.network
def test_the_lock_is_current_with_the_declaration():
    result = subprocess.run([uv(), "lock", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.network
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize(("sys_platform", "machine", "uv_platform"), PLATFORMS)
def test_the_declaration_resolves_with_wheels_on_every_platform_and_python(
    sys_platform, machine, uv_platform, python, tmp_path
):
    """`uv pip compile` for that platform and Python, with wheels for every package that has compiled code."""
    binary = [arg for name in BINARY_ONLY for arg in ("--only-binary", name)]
    result = subprocess.run(
        [
            uv(),
            "pip",
            "compile",
            str(ROOT / "pyproject.toml"),
            "--python-platform",
            uv_platform,
            "--python-version",
            python,
            *binary,
            "--no-python-downloads",
            "--quiet",
            "-o",
            str(tmp_path / "r.txt"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    pins = (tmp_path / "r.txt").read_text()
    build = "tensorflow-cpu" if machine in ("x86_64", "AMD64") else "tensorflow"
    assert re.search(rf"^{build}==2\.21\.0$", pins, re.M), pins[:2000]
    assert re.search(r"^snakemake==9\.", pins, re.M) and re.search(r"^scikit-learn==", pins, re.M)
