#!/usr/bin/env python
"""Report stage: render results/report.html, one self-contained page: findings first, then data, the
exercise, invariance, features, heads and run details. Every number is read from a results file
given on the command line; the sections, template and captions are the package's
(poolkit/report_sections.py, poolkit/page/)."""

import argparse

import pandas as pd

from poolkit import cli
from poolkit.io import atomic_path, read_json
from poolkit.report import read_captions, render
from poolkit.report_sections import FILE_INPUTS, JSON_INPUTS, TSV_INPUTS, PageData, headline_cards, sections


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    for name, text in {**JSON_INPUTS, **TSV_INPUTS, **FILE_INPUTS}.items():
        p.add_argument("--" + name.replace("_", "-"), required=True, help=text)
    p.add_argument("--benchmarks", nargs="*", default=[], help="Snakemake benchmark TSVs of the stages")
    p.add_argument("--out", required=True, help="output HTML")
    cli.config_option(p, "report.title")
    return p


def read_inputs(args: argparse.Namespace) -> PageData:
    """Every input, read once: the records and tables; the paths of the files the page embeds."""
    return PageData(
        **{name: read_json(getattr(args, name)) for name in JSON_INPUTS},
        **{name: pd.read_csv(getattr(args, name), sep="\t") for name in TSV_INPUTS},
        captions=read_captions(),
        files={name: getattr(args, name) for name in [*TSV_INPUTS, *FILE_INPUTS]},
        benchmarks=args.benchmarks,
    )


def main(args: argparse.Namespace) -> None:
    d = read_inputs(args)
    page = render(args.title, d.config["run"]["name"], headline_cards(d), sections(d))
    with atomic_path(args.out) as tmp:
        tmp.write_text(page, encoding="utf-8")


if __name__ == "__main__":
    cli.run(build_parser, main)
