#!/usr/bin/env python3
"""Write the GPU variant of the SLURM profile: profiles/slurm plus a GPU request on the
VGG16 rules, nothing else changed (Snakemake profiles cannot inherit from one another).

    python tools/gpu_profile.py                      # rewrite profiles/slurm-gpu/config.yaml
    python tools/gpu_profile.py --check              # fail if the committed file is out of date
    python tools/gpu_profile.py --partition gpu --out profiles/mycluster-gpu/config.yaml

Run it after every change to profiles/slurm/config.yaml (a test fails until you do).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "profiles/slurm/config.yaml"
GPU = ROOT / "profiles/slurm-gpu/config.yaml"
# The rules that run the VGG16 network; everything else stays on the CPU partitions.
FEATURE_RULES = ("extract_features", "variant_features", "worst_shift_features")
PLACEHOLDER = "your-gpu-partition"

HEADER = """\
# Generated from profiles/slurm/config.yaml by `python tools/gpu_profile.py`; do not edit by hand
# (change profiles/slurm, then run the tool again; a test fails until you do).
# It is profiles/slurm plus, on {rules} only,
# a GPU request ({request}) and the partition {partition!r};
# every other setting, memory and run time included, is profiles/slurm's.
# For your cluster (its partition, or --gres where it wants that):
#   python tools/gpu_profile.py --partition NAME [--gres gpu:1] --out profiles/NAME-gpu/config.yaml
"""


def gpu_profile(slurm: dict[str, Any], partition: str, gpus: int, gres: str | None) -> dict[str, Any]:
    """``slurm`` with only the GPU keys added to the VGG16 rules' ``set-resources``."""
    profile = copy.deepcopy(slurm)
    resources = profile.setdefault("set-resources", {})
    for rule in FEATURE_RULES:
        entry = resources.setdefault(rule, {})
        entry.update({"gres": gres} if gres else {"gpu": gpus})
        entry["slurm_partition"] = partition
    return profile


def render(slurm_text: str, partition: str = PLACEHOLDER, gpus: int = 1, gres: str | None = None) -> str:
    """The GPU profile's text for the SLURM profile's text."""
    profile = gpu_profile(yaml.safe_load(slurm_text), partition, gpus, gres)
    header = HEADER.format(
        request=f"gres: {gres}, i.e. --gres={gres}" if gres else f"gpu: {gpus}, i.e. --gpus={gpus}",
        partition=partition,
        rules=", ".join(FEATURE_RULES[:-1]) + " and " + FEATURE_RULES[-1],
    )
    return header + yaml.safe_dump(profile, sort_keys=False, default_flow_style=None, width=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slurm", type=Path, default=SLURM, help="the SLURM profile to start from")
    p.add_argument("--out", type=Path, default=GPU, help="the file to write (its folder is the profile)")
    p.add_argument("--partition", default=PLACEHOLDER, help="the GPU partition (slurm_partition)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs per feature job (resource gpu: --gpus=N)")
    p.add_argument("--gres", help="request the GPU as --gres=TEXT instead (e.g. gpu:1), where the cluster wants that")
    p.add_argument("--check", action="store_true", help="only compare: exit 1 if --out differs")
    args = p.parse_args(argv)
    text = render(args.slurm.read_text(), args.partition, args.gpus, args.gres)
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(
                f"ERROR: {args.out} is out of date with {args.slurm}; run python tools/gpu_profile.py", file=sys.stderr
            )
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
