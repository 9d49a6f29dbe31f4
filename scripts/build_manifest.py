#!/usr/bin/env python
"""Data stage: decode every image once; write the manifest and the table of skipped files."""

import argparse

import pandas as pd

from poolkit import cli
from poolkit.dataset import build_manifest, split_duplicates
from poolkit.io import UserError, write_json, write_parquet, write_tsv


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--images", required=True, help="folder in the Kaggle layout")
    p.add_argument("--not-read", help="the dataset stage's TSV of source files it did not take (listed as skipped)")
    cli.config_option(p, "dataset.bad_images")
    cli.config_option(p, "dataset.split_duplicates")
    p.add_argument("--manifest", required=True, help="output Parquet")
    p.add_argument("--skipped", required=True, help="output TSV of skipped files")
    p.add_argument("--duplicates", required=True, help="output TSV of contents found in both splits")
    p.add_argument("--counts", required=True, help="output JSON of counts per split and class")
    return p


def main(args: argparse.Namespace) -> None:
    not_read = pd.read_csv(args.not_read, sep="\t", keep_default_na=False) if args.not_read else None
    manifest, skipped = build_manifest(args.images, args.bad_images, not_read)
    duplicates = split_duplicates(manifest)
    if len(duplicates):
        example = f"e.g. {duplicates['train_images'].iloc[0]} = {duplicates['valid_images'].iloc[0]}"
        found = f"{len(duplicates)} image content(s) are in both splits (same sha256), {example}"
        if args.split_duplicates == "refuse":
            raise UserError(
                f"{found}. Remove them from one split, or set dataset.split_duplicates: warn to run and report them"
            )
        text = f"{found}; all listed in {args.duplicates}"
        cli.log.warning("%s", text, extra={"progress": True})
    counts = manifest.groupby(["split", "class_name"]).size()
    summary = {
        "n_images": len(manifest),
        "n_skipped": len(skipped),
        "n_split_duplicates": len(duplicates),
        "split_duplicates_policy": args.split_duplicates,
        "per_split_class": {f"{s}/{c}": int(n) for (s, c), n in counts.items()},
        "modes": {str(k): int(v) for k, v in manifest["mode"].value_counts().sort_index().items()},
        "formats": {str(k): int(v) for k, v in manifest["format"].value_counts().sort_index().items()},
        "bad_images_policy": args.bad_images,
    }
    write_tsv(skipped, args.skipped)
    write_tsv(duplicates, args.duplicates)
    write_json(summary, args.counts)
    write_parquet(manifest, args.manifest)
    cli.log.info("manifest: %d images, %d skipped", len(manifest), len(skipped))


if __name__ == "__main__":
    cli.run(build_parser, main)
