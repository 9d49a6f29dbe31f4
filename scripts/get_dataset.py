#!/usr/bin/env python
"""Data stage: put the Car-or-Truck images in place (synthetic, local, url or kaggle)."""

import argparse
import tempfile
from pathlib import Path

from poolkit import cli
from poolkit.dataset import check_layout, find_dataset_root, kaggle_download, materialise_local, safe_extract
from poolkit.download import download
from poolkit.io import UserError, atomic_dir
from poolkit.synthetic import generate_dataset


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "dataset.source")
    p.add_argument("--out", required=True, help="folder to create in the Kaggle layout")
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
    cli.config_option(p, "dataset.url.url")
    cli.config_option(p, "dataset.url.sha256")
    cli.config_option(p, "dataset.url.size")
    cli.config_option(p, "dataset.url.retries")
    cli.config_option(p, "dataset.kaggle.handle", "--kaggle-handle")
    return p


def fetch_archive(args: argparse.Namespace, staging: Path) -> None:
    """Download the archive, check it, extract it safely and copy its images into ``staging``."""
    if not args.url or not args.sha256:
        raise UserError("dataset.source is 'url': dataset.url.url and dataset.url.sha256 are required")
    with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as work:
        archive = download(
            args.url,
            Path(work) / "archive",
            checksum=args.sha256,
            expected_size=args.size or None,
            retries=args.retries,
            what="dataset archive",
        )
        extracted = Path(work) / "extracted"
        safe_extract(archive, extracted)
        materialise_local(find_dataset_root(extracted), staging, "copy")


def main(args: argparse.Namespace) -> None:
    with atomic_dir(args.out) as staging:
        if args.source == "synthetic":
            n = generate_dataset(staging, {"train": args.n_train, "valid": args.n_valid}, args.seed, args.jpeg_quality)
            cli.log.info("generated %d synthetic images (seed %d)", n, args.seed)
        elif args.source == "local":
            if not args.local_path:
                raise UserError("dataset.source is 'local' but dataset.local.path is empty")
            materialise_local(args.local_path, staging, args.local_mode)
        elif args.source == "url":
            fetch_archive(args, staging)
        else:
            materialise_local(kaggle_download(args.kaggle_handle), staging, "copy")
        check_layout(staging)


if __name__ == "__main__":
    cli.run(build_parser, main)
