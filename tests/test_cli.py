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
        {"command": "prepare", "batch_size": 64, "local_path": "", "gpu": False, "fast": True},
    )
    assert snakemake_argv(smk) == [
        "prepare", "--manifest=m.parquet", "--shards", "a", "b", "--out=o.parquet", "--batch-size=64",
        "--local-path=", "--fast",
    ]  # fmt: skip
