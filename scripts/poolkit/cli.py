"""Shared command-line plumbing for the stage scripts: options, logging, errors.

Every stage script defines ``build_parser()`` and ``main(args)`` and ends with
``cli.run(build_parser, main)``. It runs the same way by hand and as a Snakemake
``script:``: named inputs, outputs and params become options.

Options whose value comes from the config are declared with :func:`config_option`:
their default, help text and allowed values are read from the config schema, the one
place where they are written. A stage's settings class (:mod:`poolkit.settings`) gets one
option per field with :func:`add_settings_options` and is built with :func:`settings_from_args`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .config import load_schema
from .io import UserError
from .settings import StageSettings

S = TypeVar("S", bound=StageSettings)

#: The config schema: the copy an installed package carries, else the checkout's own file.
SCHEMA_PATH = next(
    path
    for path in (
        Path(__file__).with_name("config.schema.yaml"),
        Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml",
    )
    if path.is_file()
)
log = logging.getLogger("poolkit")


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help shows defaults."""
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


@functools.cache
def schema() -> dict[str, Any]:
    """The config schema, its kinds from :mod:`poolkit.kinds` (read once)."""
    return load_schema(SCHEMA_PATH)


def schema_node(key: str) -> dict[str, Any]:
    """The schema entry of a dotted config key such as ``head.cv_folds``."""
    node = schema()
    for part in key.split("."):
        try:
            node = node["properties"][part]
        except KeyError:
            raise KeyError(f"config key {key!r} is not in {SCHEMA_PATH.name}") from None
    return node


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every script that runs the VGG16 + GAP model."""
    for key in ("batch_size", "image_size", "resize", "preprocessing", "precision"):
        config_option(p, f"features.{key}")
    add_threads_option(p, "threads for TensorFlow")
    p.add_argument(
        "--require-gpu",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the job was given a GPU: stop before any work if TensorFlow cannot use one",
    )


def add_threads_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--threads`` (``what`` says what runs on them); Snakemake jobs fill it from the profile."""
    p.add_argument("--threads", type=int, default=None, help=f"{what} (default: the CPUs this process may use)")


def job_threads(threads: int | None) -> int:
    """``threads``, or the number of CPUs this process may run on."""
    return threads or len(os.sched_getaffinity(0))


_ITEM_TYPES: dict[str, Callable[[str], Any]] = {"integer": int, "number": float, "string": str}


def config_option(p: argparse.ArgumentParser | Any, key: str, flag: str | None = None) -> argparse.Action:
    """Add the option of config key ``key``: type, default, choices and help from the schema.

    The flag is the key's last part (``head.cv_folds`` → ``--cv-folds``) unless given.
    Lists take several values (``--jitters 1 2 3``; at least one where the schema asks for one);
    the allowed values of a list's items are checked by :func:`check_choices` (one ``ERROR:`` line);
    booleans are switches.
    """
    node = schema_node(key)
    flag = flag or "--" + key.rsplit(".", 1)[-1].replace("_", "-")
    allowed = node.get("enum") or node.get("items", {}).get("enum")
    text = node.get("description", "")
    if allowed and node["type"] == "array":
        text = f"{text.rstrip('.')}. One or more of: {', '.join(allowed)}."
    help_text = f"{text} [config: {key}]".replace("%", "%%")  # argparse formats help with %
    kwargs: dict[str, Any] = {"default": node.get("default"), "help": help_text}
    if node["type"] == "boolean":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif node["type"] == "array":
        kwargs["type"] = _ITEM_TYPES[node["items"]["type"]]
        kwargs["nargs"] = "+" if node.get("minItems", 0) >= 1 else "*"
    else:
        kwargs["type"] = _ITEM_TYPES[node["type"]]
        if allowed:
            kwargs["choices"] = allowed
    action = p.add_argument(flag, **kwargs)
    action.schema_key = key  # type: ignore[union-attr]
    return action


def check_choices(values: list[str], key: str) -> None:
    """Raise a UserError naming ``key`` when a list holds a value its schema does not allow."""
    allowed = schema_node(key)["items"]["enum"]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise UserError(f"{key}: unknown value(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def add_settings_options(p: argparse.ArgumentParser, settings: type[StageSettings]) -> None:
    """One option per config field of a stage's settings class (``--<field>``, from its config key's
    schema entry); the class's given fields are the script's to add and pass."""
    for name, key in settings.config_keys().items():
        config_option(p, key, _flag(name))


def settings_from_args(settings: type[S], args: argparse.Namespace, **given: Any) -> S:
    """The settings a script was given (options of :func:`add_settings_options`), its given fields
    passed as keywords; a list holding a value its schema does not allow is a UserError."""
    keys = settings.config_keys()
    for name, key in keys.items():
        if schema_node(key).get("items", {}).get("enum"):
            check_choices(getattr(args, name), key)
    return settings(**{name: getattr(args, name) for name in keys}, **given)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def snakemake_argv(smk: Any) -> list[str]:
    """Command-line arguments equivalent to a Snakemake ``script:`` job.

    Named inputs, outputs and params become ``--name value`` (underscores as dashes, lists as
    several values); an empty list of files leaves its option out, an empty list param is the bare
    option (an empty list). The param ``code_digest`` is left out (it is there only so that
    Snakemake reruns the rule when the package code it runs changes).
    """
    params = dict(smk.params.items())
    params.pop("code_digest", None)
    return option_args({**dict(smk.input.items()), **dict(smk.output.items())}) + option_args(params, bare_empty=True)


def option_args(options: Mapping[str, Any], *, bare_empty: bool = False) -> list[str]:
    """Options as command-line arguments: ``--name value`` (underscores as dashes), lists as several
    values (``--c-grid 0.1 1.0``), booleans as ``--name`` or ``--no-name``. An empty list leaves
    the option out (e.g. no input file), or with ``bare_empty`` is the bare ``--name``."""
    argv: list[str] = []
    for name, value in options.items():
        if isinstance(value, list | tuple):
            if value or bare_empty:
                argv += [_flag(name), *map(str, value)]
        elif isinstance(value, bool):
            argv.append(_flag(name) if value else "--no-" + name.replace("_", "-"))
        else:
            argv.append(f"{_flag(name)}={value}")
    return argv


def gpu_requested(resources: Mapping[str, Any]) -> bool:
    """Whether a job's resources give it a GPU (resource ``gpu``, or a ``gres`` that names one)."""
    return int(resources.get("gpu", 0) or 0) > 0 or "gpu" in str(resources.get("gres", "") or "")


def apply_job_resources(args: argparse.Namespace, smk: Any) -> None:
    """A Snakemake job's threads and GPU request, read from the job (the profile), not from params:
    changing a profile never changes a rule's parameters. Only for scripts that take them."""
    if hasattr(args, "threads"):
        args.threads = int(smk.threads)
    if hasattr(args, "require_gpu"):
        args.require_gpu = gpu_requested(dict(smk.resources.items()))


class _Format(logging.Formatter):
    """``message`` for INFO, ``LEVEL: message`` otherwise (so errors read ``ERROR: ...``);
    tracebacks only where ``tracebacks`` is true (the log file, or stderr by hand)."""

    def __init__(self, tracebacks: bool = True):
        super().__init__("%(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if self.tracebacks and record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text if record.levelno == logging.INFO else f"{record.levelname}: {text}"


def _for_terminal(record: logging.LogRecord) -> bool:
    """Progress lines and errors reach the terminal of a Snakemake job; the rest stays in its log."""
    return getattr(record, "progress", False) or record.levelno >= logging.ERROR


def _redirect_to_log(log_path: str) -> TextIO:
    """Send this process's stdout and stderr (file descriptors too, so library output
    lands there as well) to ``log_path``; return a stream to the former stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return terminal


def configure_logging(log_file: str | None = None) -> None:
    """Set up logging once: with ``log_file`` (a Snakemake job), everything goes to the log
    and progress and errors also to the terminal; by hand, INFO and up go to stderr."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(_Format())
    root.addHandler(to_stderr)
    if log_file:
        terminal = logging.StreamHandler(_redirect_to_log(log_file))
        terminal.setFormatter(_Format(tracebacks=False))
        terminal.addFilter(_for_terminal)
        root.addHandler(terminal)
    logging.captureWarnings(True)


def run(build_parser: Callable[[], argparse.ArgumentParser], main: Callable[[argparse.Namespace], None]) -> None:
    """Parse the options (from the command line or a Snakemake ``script:`` job) and run ``main``.

    A :class:`UserError` (a user's mistake) or a missing input file becomes one ``ERROR:``
    line and exit code 1; any other exception is logged with its traceback (in the job's log;
    the terminal gets the one line) and exits 1.
    """
    import __main__

    smk = getattr(__main__, "snakemake", None)
    argv = snakemake_argv(smk) if smk is not None else sys.argv[1:]
    configure_logging(str(smk.log[0]) if smk is not None and smk.log else None)
    if smk is not None:
        log.info("arguments: %s", " ".join(argv))
    args = build_parser().parse_args(argv)
    if smk is not None:
        apply_job_resources(args, smk)
    try:
        main(args)
    except UserError as error:
        log.error("%s", error)
        sys.exit(1)
    except FileNotFoundError as error:
        log.error("no such file: %s (check the path, or run the stage that makes it first)", error.filename)
        sys.exit(1)
    except Exception as error:
        log.exception("unexpected failure: %s: %s", type(error).__name__, error)
        sys.exit(1)
