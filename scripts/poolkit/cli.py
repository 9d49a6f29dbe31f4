"""Shared command-line plumbing for the stage scripts."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .io import WorkflowError


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser whose help shows defaults."""
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every script that runs the VGG16 + GAP model."""
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--resize", default="nearest", choices=["nearest", "bilinear"])
    p.add_argument("--preprocessing", default="caffe", choices=["caffe", "none"])
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="auto: bfloat16 where the CPU has native bfloat16 (AVX512-BF16/AMX) and no GPU is used, else float32",
    )
    p.add_argument("--threads", type=int, default=2)


def int_list(text: str) -> list[int]:
    """Parse ``"1,2,3"`` into ``[1, 2, 3]``."""
    return [int(item) for item in text.split(",") if item.strip()]


def float_list(text: str) -> list[float]:
    """Parse ``"0.1,1"`` into ``[0.1, 1.0]``."""
    return [float(item) for item in text.split(",") if item.strip()]


def str_list(text: str) -> list[str]:
    """Parse ``"a,b"`` into ``["a", "b"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


#: Where progress lines are echoed besides the log: the terminal of a Snakemake job.
TERMINAL: TextIO | None = None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def snakemake_argv(smk: Any) -> list[str]:
    """Command-line arguments equivalent to a Snakemake ``script:`` job.

    Named inputs, outputs and params become ``--name value`` (underscores as dashes,
    lists as several values); a param named ``command`` is the sub-command; the param
    ``code_digest`` is left out (it is there only so that Snakemake reruns the rule
    when the package code it runs changes).
    """
    argv: list[str] = []
    params = dict(smk.params.items())
    params.pop("code_digest", None)
    if "command" in params:
        argv.append(str(params.pop("command")))
    for name, value in [*smk.input.items(), *smk.output.items(), *params.items()]:
        if isinstance(value, list | tuple):
            if value:  # an empty list (e.g. no input file) means: leave the option out
                argv += [_flag(name), *map(str, value)]
        elif isinstance(value, bool):
            if value:
                argv.append(_flag(name))
        else:
            argv.append(f"{_flag(name)}={value}")
    return argv


def _redirect_to_log(log_path: str) -> None:
    """Send this process's stdout and stderr (file descriptors too) to ``log_path``."""
    global TERMINAL
    sys.stdout.flush()
    sys.stderr.flush()
    TERMINAL = os.fdopen(os.dup(2), "w", buffering=1)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def run(main: Callable[[], None]) -> None:
    """Run ``main`` from the command line or as a Snakemake ``script:``.

    A :class:`WorkflowError` becomes one ``ERROR:`` line and exit code 1.
    """
    import __main__

    smk = getattr(__main__, "snakemake", None)
    if smk is not None:
        sys.argv = [sys.argv[0], *snakemake_argv(smk)]
        if smk.log:
            _redirect_to_log(str(smk.log[0]))
        print("arguments:", " ".join(sys.argv[1:]), flush=True)
    try:
        main()
    except WorkflowError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
