#!/usr/bin/env python3
"""Write environment.yml and environment-gpu.yml from pyproject.toml, the one declaration of the
dependencies (run by `make lock`; tests/test_environment.py fails when they differ).

Conda channels give Python; every package comes from PyPI through the conda file's pip section, with
the same exact pins and platform markers as pyproject.toml. The GPU file swaps the TensorFlow lines
for the `gpu` extra. Only the standard library is used, so it runs before any environment exists.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# Generated from pyproject.toml by tools/conda_env.py (`make lock`); do not edit by hand.
# Same pins as uv.lock's direct dependencies. Create it with:  conda env create -f {name}
# then, in the activated environment and a checkout of this workflow:  pip install --no-deps -e .
"""


def conda_python(requires: str) -> str:
    """pyproject's requires-python (">=3.11,<3.14") as a conda spec ("python>=3.11,<3.14")."""
    return "python" + requires.replace(" ", "")


def is_tensorflow(requirement: str) -> bool:
    """Whether a requirement line installs TensorFlow (either build)."""
    return re.match(r"tensorflow(-cpu)?\s*[=\[;]", requirement) is not None


def environment(file_name: str, name: str, python: str, pip_lines: list[str]) -> str:
    """The text of one conda environment file."""
    lines = [HEADER.format(name=file_name), f"name: {name}", "channels:", "  - conda-forge", "  - nodefaults"]
    lines += ["dependencies:", f'  - "{python}"', "  - pip", "  - pip:"]
    lines += [f'      - "{line}"' for line in pip_lines]
    return "\n".join(lines) + "\n"


def wanted_files(pyproject: dict) -> dict[str, str]:
    """File name → wanted text, for the CPU and the GPU conda file."""
    project = pyproject["project"]
    python = conda_python(project["requires-python"])
    cpu = list(project["dependencies"])
    gpu = [line for line in cpu if not is_tensorflow(line)] + list(project["optional-dependencies"]["gpu"])
    return {
        "environment.yml": environment("environment.yml", "maxpool-workflow", python, cpu),
        "environment-gpu.yml": environment("environment-gpu.yml", "maxpool-workflow-gpu", python, gpu),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is out of date")
    args = parser.parse_args()
    wanted = wanted_files(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    stale = [name for name, text in wanted.items() if (ROOT / name).read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"ERROR: {name} is out of date with pyproject.toml; run `make lock` and commit it", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (ROOT / name).write_text(wanted[name], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
