#!/usr/bin/env python
"""Write config/README.md's key tables from the config schema (the one place for defaults and
descriptions; the kinds' names, defaults and lines from poolkit.kinds), or with --check fail when the
committed file differs from what they give."""

import argparse
from pathlib import Path

from poolkit import cli
from poolkit.config import load_schema, update_readme
from poolkit.io import UserError, atomic_path


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--schema", required=True, help="workflow/schemas/config.schema.yaml")
    p.add_argument("--readme", required=True, help="config/README.md")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is out of date")
    return p


def main(args: argparse.Namespace) -> None:
    readme = Path(args.readme)
    current = readme.read_text(encoding="utf-8")
    wanted = update_readme(current, load_schema(args.schema))
    if args.check:
        if wanted != current:
            raise UserError(f"{readme} is out of date with {args.schema}; run `make config-docs` and commit it")
        cli.log.info("%s matches the schema", readme)
        return
    with atomic_path(readme) as tmp:
        tmp.write_text(wanted, encoding="utf-8")
    cli.log.info("wrote %s", readme)


if __name__ == "__main__":
    cli.run(build_parser, main)
