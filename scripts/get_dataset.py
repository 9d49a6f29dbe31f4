#!/usr/bin/env python
"""Stage 1a: put the Car-or-Truck images in place (synthetic, local, url or kaggle)."""

import tempfile
from pathlib import Path

from poolkit import cli
from poolkit.dataset import (
    KAGGLE_HANDLE,
    check_layout,
    find_dataset_root,
    kaggle_download,
    materialise_local,
    safe_extract,
)
from poolkit.download import download
from poolkit.io import WorkflowError, atomic_dir
from poolkit.synthetic import generate_dataset


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--source", required=True, choices=["synthetic", "local", "url", "kaggle"])
    p.add_argument("--out", required=True, help="folder to create in the Kaggle layout")
    p.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    p.add_argument("--n-train", type=int, default=200, help="synthetic: training images per class")
    p.add_argument("--n-valid", type=int, default=100, help="synthetic: validation images per class")
    p.add_argument("--jpeg-quality", type=int, default=90, help="synthetic: JPEG quality")
    p.add_argument("--local-path", default="", help="local: existing folder in the Kaggle layout")
    p.add_argument("--local-mode", default="copy", choices=["copy", "link"])
    p.add_argument("--url", default="", help="url: zip or tar archive to download")
    p.add_argument("--sha256", default="", help="url: the archive's sha256 (required)")
    p.add_argument("--size", type=int, default=0, help="url: the archive's size in bytes (0: unchecked)")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--kaggle-handle", default=KAGGLE_HANDLE)
    args = p.parse_args()

    with atomic_dir(args.out) as staging:
        if args.source == "synthetic":
            n = generate_dataset(staging, {"train": args.n_train, "valid": args.n_valid}, args.seed, args.jpeg_quality)
            print(f"generated {n} synthetic images (seed {args.seed})")
        elif args.source == "local":
            if not args.local_path:
                raise WorkflowError("dataset.source is 'local' but dataset.local.path is empty")
            materialise_local(args.local_path, staging, args.local_mode)
        elif args.source == "url":
            if not args.url or not args.sha256:
                raise WorkflowError("dataset.source is 'url': dataset.url.url and dataset.url.sha256 are required")
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
        else:
            materialise_local(kaggle_download(args.kaggle_handle), staging, "copy")
        check_layout(staging)


if __name__ == "__main__":
    cli.run(main)
