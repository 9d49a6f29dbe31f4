#!/usr/bin/env python
"""Weights stage: download Keras' ImageNet VGG16 notop weights and check their MD5."""

import argparse

from poolkit import cli
from poolkit.weights import fetch_imagenet


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "weights.imagenet.url")
    cli.config_option(p, "weights.imagenet.md5")
    p.add_argument("--out", required=True, help="output .h5 (Keras' file, unchanged)")
    return p


def main(args: argparse.Namespace) -> None:
    fetch_imagenet(args.out, args.url, args.md5)


if __name__ == "__main__":
    cli.run(build_parser, main)
