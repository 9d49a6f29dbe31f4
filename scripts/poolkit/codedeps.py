"""Which files of this package a stage script runs, and one digest of them.

Snakemake reruns a rule when its ``script:`` file changes, but not when a module
that script imports does. The rules therefore carry the digest of the package
modules their script imports (directly or through other modules, at any depth)
as a parameter: a change to any of them reruns exactly the rules that use it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "poolkit"
PACKAGE_DIR = Path(__file__).resolve().parent
#: Package data a module reads, by module file: editing it reruns the stages that use the module.
DATA_DIRS = {"report.py": "page"}
#: A line that is an import statement, or the first line of one, after indentation: ``from x import ...``,
#: or ``import x[ as y][, z ...]`` alone on its line (prose that merely begins with "from" does not match).
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:from[ \t]+\.*[\w.]*[ \t]+import\b|import[ \t]+[\w.]+(?:[ \t]+as[ \t]+\w+)?"
    r"(?:[ \t]*,[ \t]*[\w.]+(?:[ \t]+as[ \t]+\w+)?)*[ \t]*(?:#.*)?$)",
    re.MULTILINE,
)


def _module_file(dotted: str) -> Path | None:
    """The file of a ``poolkit`` module (``poolkit.x`` → ``x.py``), or None if it is not one."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return PACKAGE_DIR / "__init__.py"
    path = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str | None:
    """``poolkit.x`` for a file of the package, None for a file outside it."""
    try:
        relative = path.resolve().relative_to(PACKAGE_DIR)
    except ValueError:
        return None
    parts = [PACKAGE, *relative.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_files(path: Path) -> frozenset[Path]:
    """Files of the package modules a Python file imports (anywhere in it, lazily too)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _imported_files(path, stat.st_mtime_ns, stat.st_size)


def _import_snippets(source: str) -> Iterator[str]:
    """Each import line of ``source`` (:data:`_IMPORT_LINE`), dedented; with the lines up to its closing
    parenthesis where it ends in an open one (``from x import (``)."""
    for match in _IMPORT_LINE.finditer(source):
        end = source.find("\n", match.start())
        end = len(source) if end < 0 else end
        if source[match.start() : end].split("#", 1)[0].rstrip().endswith("("):
            end = source.find(")", end) + 1 or len(source)
        yield textwrap.dedent(source[match.start() : end])


def import_statements(source: str) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of Python ``source``, at any depth. Snakemake runs this for every script at
    every parse (each dry run, each cluster job), so each import line is parsed alone, a tenth of the time
    of the whole file; where some such line does not parse alone (a backslash continuation, prose in a
    docstring that reads like an import), the whole file is parsed instead."""
    nodes: list[ast.AST]
    try:
        nodes = [node for snippet in _import_snippets(source) for node in ast.parse(snippet).body]
    except SyntaxError:
        nodes = list(ast.walk(ast.parse(source)))
    return [node for node in nodes if isinstance(node, ast.Import | ast.ImportFrom)]


@functools.lru_cache(maxsize=256)
def _imported_files(path: Path, mtime_ns: int, size: int) -> frozenset[Path]:
    """imported_files() of one version of a file (the cache key includes its mtime and size)."""
    here = _module_name(path)
    names: set[str] = set()
    for node in import_statements(path.read_text()):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            if here is None:
                continue
            anchor = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(file for file in map(_module_file, names) if file is not None)


def package_files(script: Path) -> list[Path]:
    """Every package file ``script`` runs: its imports, theirs, and so on, plus ``__init__.py``."""
    seen: set[Path] = set()
    pending = [Path(script)]
    while pending:
        new = imported_files(pending.pop()) - seen
        seen |= new
        pending.extend(new)
    if seen:
        seen.add(PACKAGE_DIR / "__init__.py")
    for module in [path for path in seen if path.name in DATA_DIRS]:
        seen.update(path for path in (PACKAGE_DIR / DATA_DIRS[module.name]).rglob("*") if path.is_file())
    return sorted(seen)


def code_digest(script: Path) -> str:
    """sha256 over the names and contents of the package files ``script`` runs."""
    digest = hashlib.sha256()
    for path in package_files(script):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
