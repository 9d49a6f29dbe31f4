"""The fast tier: one marker expression for `make test-fast` and `make test`, and the check that it calls
into every package module (tools/fast_tier_coverage.py)."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import fast_tier_coverage  # noqa: E402


def test_a_module_counts_only_when_the_fast_tier_called_into_it():
    shares = {
        "scripts/poolkit/never_imported.py": (0.0, 0, -1),
        "scripts/poolkit/imported_only.py": (0.2, 0, 4),
        "scripts/poolkit/called.py": (0.6, 1, 4),
        "scripts/poolkit/__init__.py": (1.0, 0, 0),  # no functions: imported is all there is
    }
    assert fast_tier_coverage.uncovered(shares) == [
        "scripts/poolkit/never_imported.py",
        "scripts/poolkit/imported_only.py",
    ]


def test_module_shares_reads_coverages_report_and_lists_every_module():
    report = {
        "files": {
            "scripts/poolkit/io.py": {
                "summary": {"percent_covered": 50.0},
                "functions": {
                    "": {"summary": {"num_statements": 3, "covered_lines": 3}},  # the module's own lines
                    "write_json": {"summary": {"num_statements": 2, "covered_lines": 2}},
                    "read_json": {"summary": {"num_statements": 2, "covered_lines": 0}},
                },
            }
        }
    }
    shares = fast_tier_coverage.module_shares(report)
    assert shares["scripts/poolkit/io.py"] == (0.5, 1, 2)
    assert shares["scripts/poolkit/head.py"] == (0.0, 0, -1)  # not in the report: never imported
    assert set(shares) == {str(p.relative_to(ROOT)) for p in (ROOT / "scripts/poolkit").glob("*.py")}


def test_make_test_runs_the_fast_tier_measured_then_the_rest_and_test_fast_the_same_tier():
    makefile = (ROOT / "Makefile").read_text()
    tier = re.search(r"^FAST_TIER := (.+)$", makefile, re.M).group(1)
    assert tier == "not slow and not integration and not system and not network"
    test = makefile.split("\ntest: ")[1].split("\n\n")[0]
    assert '-m coverage run --source=scripts/poolkit -m pytest -m "$(FAST_TIER)"' in test
    assert "tools/fast_tier_coverage.py" in test and '-m pytest -m "not ($(FAST_TIER))"' in test
    fast = makefile.split("\ntest-fast: ")[1].split("\n\n")[0]
    assert fast.strip().endswith('-m pytest -m "$(FAST_TIER)"')
