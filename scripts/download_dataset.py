#!/usr/bin/env python
"""Download stage: the dataset archive (url) or Kaggle dataset (kaggle) into the download cache, once.

Writes a receipt naming the cached, verified download. A cached download is used without the network;
the cache is never deleted or rewritten, so a rerun of this stage (a code or config change) costs no
download and loses nothing."""

import argparse

from poolkit import cli
from poolkit.cache import archive, kaggle_dataset
from poolkit.io import write_json
from poolkit.progress import log_progress


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument(
        "--source", required=True, choices=["url", "kaggle"], help="the dataset source [config: dataset.source]"
    )
    cli.config_option(p, "run.cache")
    cli.config_option(p, "dataset.url.url")
    cli.config_option(p, "dataset.url.sha256")
    cli.config_option(p, "dataset.url.size")
    cli.config_option(p, "dataset.url.retries")
    cli.config_option(p, "dataset.kaggle.handle", "--kaggle-handle")
    p.add_argument("--out", required=True, help="the receipt (JSON) naming the cached download")
    return p


def main(args: argparse.Namespace) -> None:
    if args.source == "url":
        path = archive(args.cache, args.url, args.sha256, args.size, args.retries)
        receipt = {"source": "url", "url": args.url, "path": str(path), "algorithm": "sha256", "digest": args.sha256}
    else:
        record = kaggle_dataset(args.cache, args.kaggle_handle)
        receipt = {
            "source": "kaggle",
            "handle": record["handle"],
            "path": record["folder"],
            "algorithm": "tree_sha256",
            "digest": record["tree_sha256"],
        }
    log_progress("[download_dataset] %s in the cache: %s", args.source, receipt["path"])
    write_json(receipt, args.out)


if __name__ == "__main__":
    cli.run(build_parser, main)
