#!/usr/bin/env python
"""Does the fast tier run every module of the package? Reads the coverage data of a run of the fast tier
(``make test`` runs it as ``coverage run --source=scripts/poolkit -m pytest -m <fast tier>``) and prints,
per module of ``scripts/poolkit``, the share of its lines and of its functions that ran.

Exits 1, naming them, when a module was not imported or none of its functions ran: importing a module
runs only its top-level lines, so a module counts as covered when the tests called into it."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scripts/poolkit"


def module_shares(report: dict) -> dict[str, tuple[float, int, int]]:
    """Per module (path relative to the checkout): line share, functions that ran, functions."""
    files = report["files"]
    shares = {}
    for path in sorted(PACKAGE.glob("*.py")):
        rel = str(path.relative_to(ROOT))
        entry = files.get(rel)
        if entry is None:  # never imported: coverage lists it only with --source
            shares[rel] = (0.0, 0, -1)
            continue
        functions = [f for name, f in entry["functions"].items() if name and f["summary"]["num_statements"]]
        ran = sum(1 for f in functions if f["summary"]["covered_lines"])
        shares[rel] = (entry["summary"]["percent_covered"] / 100, ran, len(functions))
    return shares


def uncovered(shares: dict[str, tuple[float, int, int]]) -> list[str]:
    """Modules the fast tier did not call into (a module without functions counts if it was imported)."""
    return [rel for rel, (lines, ran, total) in shares.items() if total < 0 or (total > 0 and ran == 0) or lines == 0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-file", default=".coverage", help="coverage data of the fast tier's run")
    args = p.parse_args()
    cov = coverage.Coverage(data_file=args.data_file)
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out), include=[str(PACKAGE / "*.py")])
        shares = module_shares(json.loads(out.read_text()))
    print(f"{'module':<40} {'lines':>6} {'functions run':>14}")
    for rel, (lines, ran, total) in shares.items():
        print(f"{rel:<40} {lines:>6.0%} {f'{ran}/{max(total, 0)}':>14}")
    missing = uncovered(shares)
    if missing:
        print(f"ERROR: the fast tier runs nothing of {', '.join(missing)}: add a fast test", file=sys.stderr)
        sys.exit(1)
    print(f"the fast tier calls into every one of the {len(shares)} modules of scripts/poolkit")


if __name__ == "__main__":
    main()
