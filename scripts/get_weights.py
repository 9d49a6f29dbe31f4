#!/usr/bin/env python
"""Stage 2: VGG16 notop weights. ``download`` fetches ImageNet's (MD5-checked);
``prepare`` turns the chosen source into one Keras weights file."""

import argparse
from pathlib import Path

from poolkit import cli
from poolkit.io import WorkflowError, file_digest, write_json
from poolkit.weights import fetch_imagenet, verify_md5


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="download the ImageNet notop weights")
    cli.config_option(d, "weights.imagenet.url")
    cli.config_option(d, "weights.imagenet.md5")
    d.add_argument("--out", required=True)
    r = sub.add_parser("prepare", help="load the source into VGG16 and save it")
    cli.config_option(r, "weights.source")
    cli.config_option(r, "weights.seed")
    r.add_argument("--path", default="", help="path or imagenet: the weights file to load")
    cli.config_option(r, "weights.imagenet.md5")
    r.add_argument("--out", required=True, help="output .weights.h5")
    r.add_argument("--info", required=True, help="output JSON describing the weights")
    return p


def main(args: argparse.Namespace) -> None:
    if args.command == "download":
        fetch_imagenet(args.out, args.url, args.md5)
        return

    from poolkit import tfsetup

    tfsetup.configure(2)
    from poolkit.weights import load_model_from_file, random_model, save_weights, weights_digest

    info: dict[str, object] = {"source": args.source}
    if args.source == "random":
        model = random_model(args.seed)
        info["seed"] = args.seed
    else:
        if not args.path:
            raise WorkflowError(f"weights.source is {args.source!r} but no weights file was given (weights.path)")
        if args.source == "imagenet":
            verify_md5(args.path, args.md5)
        model = load_model_from_file(args.path)
        info.update(
            source_file=str(Path(args.path).name),
            source_md5=file_digest(args.path, "md5"),
            source_sha256=file_digest(args.path),
        )
    save_weights(model, args.out)
    info["n_parameters"] = int(model.count_params())
    info["weights_sha256"] = weights_digest(model)  # of the values, not the file bytes
    write_json(info, args.info)


if __name__ == "__main__":
    cli.run(build_parser, main)
