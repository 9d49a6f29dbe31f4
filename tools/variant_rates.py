#!/usr/bin/env python3
"""Forward-pass rate of each VGG16 base variant (poolkit.variants), images/s, float32 and bfloat16.

Each (variant, precision) runs in a fresh process: build the extractor from a weights file, trace on
one batch, then time ``--batches`` batches of random 0-255 images at ``--size`` px. Pairs run one
after the other in one invocation, so their ratios are comparable; absolute rates are not comparable
across machines or days. ``--scripts`` picks the folder that holds the ``poolkit`` package, to compare
two checkouts in one run (e.g. before and after a change to a variant's layers).

    python tools/variant_rates.py --weights resources/demo/weights/vgg16_notop.weights.h5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from poolkit.kinds import VARIANTS

REPO = Path(__file__).resolve().parents[1]


def time_one(args: argparse.Namespace) -> None:
    """(internal) Print the rate of one variant and precision as JSON."""
    sys.path.insert(0, str(args.scripts))
    from poolkit import tfsetup

    tfsetup.configure(args.threads)
    import numpy as np

    from poolkit.features import FeatureExtractor

    extractor = FeatureExtractor(str(args.weights), "caffe", args.precision, variant=args.variant)
    images = np.random.default_rng(0).integers(0, 256, (args.batch, args.size, args.size, 3), dtype=np.uint8)
    extractor.scores(images)  # traces the graph
    start = time.perf_counter()
    for _ in range(args.batches):
        extractor.scores(images)
    rate = args.batches * args.batch / (time.perf_counter() - start)
    print(json.dumps({"variant": args.variant, "precision": args.precision, "images_per_s": rate}))


def measure(args: argparse.Namespace, variant: str, precision: str, scripts: Path) -> float:
    """Run :func:`time_one` in a fresh process and return its rate."""
    command = [sys.executable, __file__, "one", "--variant", variant, "--precision", precision]
    command += ["--scripts", str(scripts), "--weights", str(args.weights), "--size", str(args.size)]
    command += ["--batch", str(args.batch), "--batches", str(args.batches), "--threads", str(args.threads)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"ERROR: {variant} {precision} failed:\n{result.stderr[-2000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["images_per_s"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="all", choices=["all", "one"], help=argparse.SUPPRESS)
    parser.add_argument("--weights", type=Path, default=REPO / "resources/demo/weights/vgg16_notop.weights.h5")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--variant", default="max", help=argparse.SUPPRESS)
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument(
        "--scripts", type=Path, nargs="+", default=[REPO / "scripts"], help="poolkit folders to compare"
    )
    parser.add_argument("--size", type=int, default=128, help="image side in px")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4, help="timed batches after the tracing one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rates here")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.command == "one":
        args.scripts = args.scripts[0]
        time_one(args)
        return
    if not args.weights.is_file():
        sys.exit(f"ERROR: no weights file {args.weights} (run `make demo` first, or pass --weights)")
    rows = []
    print(f"{'variant':<14}{'precision':<10}{'images/s':>10}  poolkit", flush=True)
    for variant in args.variants:
        for precision in args.precisions:
            for scripts in args.scripts:
                rate = measure(args, variant, precision, scripts)
                rows.append({"variant": variant, "precision": precision, "scripts": str(scripts), "images_per_s": rate})
                print(f"{variant:<14}{precision:<10}{rate:>10.1f}  {scripts}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
