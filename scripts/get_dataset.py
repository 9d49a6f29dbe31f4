#!/usr/bin/env python
"""Data stage: put the Car-or-Truck images in place (synthetic, local, or from the download cache's
verified url archive or Kaggle dataset, named by the download stage's receipt)."""

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from poolkit import cli
from poolkit.cache import verify_receipt
from poolkit.dataset import SKIPPED_COLUMNS, check_layout, find_dataset_root, materialise_local, safe_extract
from poolkit.io import UserError, atomic_dir, read_json, write_tsv
from poolkit.synthetic import generate_dataset


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "dataset.source")
    p.add_argument("--out", required=True, help="folder to create in the Kaggle layout")
    p.add_argument("--not-read", required=True, help="output TSV: the source's files not taken, with the reason")
    cli.config_option(p, "dataset.synthetic.seed")
    cli.config_option(p, "dataset.synthetic.n_train_per_class", "--n-train")
    cli.config_option(p, "dataset.synthetic.n_valid_per_class", "--n-valid")
    cli.config_option(p, "dataset.synthetic.jpeg_quality")
    cli.config_option(p, "dataset.local.path", "--local-path")
    cli.config_option(p, "dataset.local.mode", "--local-mode")
    p.add_argument(
        "--local-files",
        nargs="*",
        default=[],
        help="the local folder's image files: inputs of the workflow's rule, so that a change reruns it (not read)",
    )
    p.add_argument("--receipt", default="", help="url and kaggle: the download stage's receipt (JSON)")
    return p


def unpack_download(receipt_path: str, staging: Path) -> pd.DataFrame:
    """Copy the images of the cached, verified download the receipt names into ``staging`` (an
    archive is extracted safely first); return the files not taken, with the reason."""
    if not receipt_path:
        raise UserError("dataset.source is 'url' or 'kaggle': the download stage's receipt (--receipt) is required")
    receipt = read_json(receipt_path)
    cached = verify_receipt(receipt)
    if receipt["source"] == "kaggle":
        return materialise_local(cached, staging, "copy")
    with tempfile.TemporaryDirectory(dir=staging.parent) as work:
        safe_extract(cached, Path(work))
        return materialise_local(find_dataset_root(work), staging, "copy")


def main(args: argparse.Namespace) -> None:
    not_read = pd.DataFrame(columns=SKIPPED_COLUMNS)
    with atomic_dir(args.out) as staging:
        if args.source == "synthetic":
            n = generate_dataset(staging, {"train": args.n_train, "valid": args.n_valid}, args.seed, args.jpeg_quality)
            cli.log.info("generated %d synthetic images (seed %d)", n, args.seed)
        elif args.source == "local":
            if not args.local_path:
                raise UserError("dataset.source is 'local' but dataset.local.path is empty")
            not_read = materialise_local(args.local_path, staging, args.local_mode)
        else:
            not_read = unpack_download(args.receipt, staging)
        check_layout(staging)
    write_tsv(not_read, args.not_read)


if __name__ == "__main__":
    cli.run(build_parser, main)
