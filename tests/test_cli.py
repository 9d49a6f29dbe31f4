"""Every stage script runs by hand and explains itself."""

import subprocess
import sys
from pathlib import Path

import pytest

from poolkit.cli import snakemake_argv

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))


def test_every_rule_script_exists():
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    used = {line.split("scripts/")[1].strip().strip('"') for line in rules.splitlines() if "../../scripts/" in line}
    assert used and used <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


class _Named(list):
    def __init__(self, items: dict):
        super().__init__(items.values())
        self._items = items

    def items(self):
        return self._items.items()


class _FakeSnakemake:
    def __init__(self, input: dict, output: dict, params: dict):
        self.input, self.output, self.params = _Named(input), _Named(output), _Named(params)


def test_snakemake_arguments_map_to_options():
    smk = _FakeSnakemake(
        {"manifest": "m.parquet", "shards": ["a", "b"], "path": []},
        {"out": "o.parquet"},
        {"command": "prepare", "batch_size": 64, "local_path": "", "gpu": False, "fast": True, "code_digest": "ab12"},
    )
    assert snakemake_argv(smk) == [
        "prepare", "--manifest=m.parquet", "--shards", "a", "b", "--out=o.parquet", "--batch-size=64",
        "--local-path=", "--fast",
    ]  # fmt: skip


def test_every_rule_but_the_weights_download_carries_its_code_digest():
    """So that a change in the package code a stage runs reruns that stage (see poolkit.codedeps)."""
    for path in (ROOT / "workflow/rules").glob("*.smk"):
        for block in path.read_text().split("\nrule ")[1:]:
            name = block.split(":", 1)[0]
            script = block.split('"../../scripts/')[1].split('"')[0] if "../../scripts/" in block else None
            if script and name != "download_weights":
                assert f'code_digest=code_digest("{script}")' in block, name


def _fake_package(root: Path) -> Path:
    package = root / "poolkit"
    package.mkdir()
    (package / "__init__.py").write_text('"""fake"""\n')
    (package / "a.py").write_text("from .b import helper\n\ndef run():\n    return helper()\n")
    (package / "b.py").write_text("def helper():\n    return 1\n")
    (package / "c.py").write_text("import numpy\n")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("from ..c import numpy\n")
    script = root / "stage.py"
    script.write_text("import os\n\ndef main():\n    from poolkit.a import run\n    return run()\n")
    return script


def test_code_digest_follows_imports_at_any_depth(tmp_path, monkeypatch):
    from poolkit import codedeps

    script = _fake_package(tmp_path)
    package = tmp_path / "poolkit"
    monkeypatch.setattr(codedeps, "PACKAGE_DIR", package)
    assert [p.name for p in codedeps.package_files(script)] == ["__init__.py", "a.py", "b.py"]
    before = codedeps.code_digest(script)
    (package / "c.py").write_text("import numpy  # not used by the stage\n")
    assert codedeps.code_digest(script) == before
    (package / "b.py").write_text("def helper():\n    return 2\n")
    assert codedeps.code_digest(script) != before
    relative = {p.relative_to(package).as_posix() for p in codedeps.package_files(package / "sub" / "__init__.py")}
    assert relative == {"__init__.py", "c.py"}


def test_code_digest_of_the_real_stages():
    from poolkit.codedeps import package_files

    def names(script: str) -> set[str]:
        return {p.name for p in package_files(ROOT / "scripts" / script)}

    assert {"head.py", "stats.py", "cli.py"} <= names("fit_head.py") and "features.py" not in names("fit_head.py")
    assert {"features.py", "machine.py", "dataset.py"} <= names("extract_features.py")
    assert "head.py" not in names("extract_features.py") and "features.py" not in names("run_trials.py")
