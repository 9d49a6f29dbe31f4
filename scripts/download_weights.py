#!/usr/bin/env python
"""Download stage: Keras' ImageNet VGG16 notop weights into the download cache, once, MD5-checked.

Writes a receipt naming the cached file. A cached copy (or one in Keras' own cache, $KERAS_HOME/models)
is used without the network; the cache is never deleted or rewritten."""

import argparse

from poolkit import cli
from poolkit.cache import imagenet_weights
from poolkit.io import write_json
from poolkit.progress import log_progress


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "run.cache")
    cli.config_option(p, "weights.imagenet.url")
    cli.config_option(p, "weights.imagenet.md5")
    p.add_argument("--out", required=True, help="the receipt (JSON) naming the cached weights file")
    return p


def main(args: argparse.Namespace) -> None:
    path = imagenet_weights(args.cache, args.url, args.md5)
    log_progress("[download_weights] ImageNet weights in the cache: %s", path)
    write_json(
        {"source": "imagenet", "url": args.url, "path": str(path), "algorithm": "md5", "digest": args.md5}, args.out
    )


if __name__ == "__main__":
    cli.run(build_parser, main)
