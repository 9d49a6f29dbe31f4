#!/usr/bin/env python
"""Record provenance (config, package versions, data and weights hashes, git commit)
in results/provenance.json and in every stage's results folder."""

import argparse
import json
from pathlib import Path

from poolkit import cli
from poolkit.io import file_digest, read_json, write_json
from poolkit.provenance import provenance_record


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--config-json", required=True, help="the validated config as JSON text")
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights-info", required=True)
    p.add_argument("--out", nargs="+", required=True, help="provenance.json files to write")
    return p


def main(args: argparse.Namespace) -> None:
    record = provenance_record(
        json.loads(args.config_json),
        root=Path(__file__).resolve().parents[1],
        manifest_sha256=file_digest(args.manifest),
        weights=read_json(args.weights_info),
    )
    for path in args.out:
        write_json(record, path)


if __name__ == "__main__":
    cli.run(build_parser, main)
