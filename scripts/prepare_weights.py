#!/usr/bin/env python
"""Weights stage: load the chosen VGG16 notop weights (seeded random, a local file, or ImageNet's
download) into the architecture and save them as one Keras weights file, with a description."""

import argparse
from pathlib import Path

from poolkit import cli
from poolkit.cache import verify_receipt
from poolkit.io import UserError, file_digest, read_json, write_json


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.config_option(p, "weights.source")
    cli.config_option(p, "weights.seed")
    p.add_argument(
        "--path", default="", help="path: the weights file to load; imagenet: the download stage's receipt (JSON)"
    )
    p.add_argument("--out", required=True, help="output .weights.h5")
    p.add_argument("--info", required=True, help="output JSON describing the weights")
    return p


def main(args: argparse.Namespace) -> None:
    from poolkit import tfsetup

    tfsetup.configure(2)
    from poolkit.weights import load_model_from_file, random_model, save_weights, weights_digest

    info: dict[str, object] = {"source": args.source}
    if args.source == "random":
        model = random_model(args.seed)
        info["seed"] = args.seed
    else:
        if not args.path:
            raise UserError(f"weights.source is {args.source!r} but no weights file was given (weights.path)")
        source = verify_receipt(read_json(args.path)) if args.source == "imagenet" else Path(args.path)
        model = load_model_from_file(source)
        info.update(
            source_file=source.name,
            source_md5=file_digest(source, "md5"),
            source_sha256=file_digest(source),
        )
    save_weights(model, args.out)
    info["file_sha256"] = file_digest(args.out)  # checked by every stage that reads the file
    info["n_parameters"] = int(model.count_params())
    info["weights_sha256"] = weights_digest(model)  # of the values, not the file bytes
    write_json(info, args.info)


if __name__ == "__main__":
    cli.run(build_parser, main)
