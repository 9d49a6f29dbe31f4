"""The self-contained HTML report: blocks of data rendered by one Jinja2 template.

Section code builds plain blocks (paragraphs, tables, figures, file links); the template
(``poolkit/page/report.html.j2``, autoescape on) turns them into HTML, so no HTML is
written in Python and every value is escaped. The template and the captions
(``poolkit/page/captions/*.rst``, shared with Snakemake's own report) are package data:
an installed package finds them without a checkout of the workflow.
"""

from __future__ import annotations

import base64
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

PAGE = importlib.resources.files(__package__) / "page"


@dataclass
class Section:
    """One titled section of the page: an id for links and a list of blocks."""

    id: str
    title: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def read_captions() -> dict[str, str]:
    """Caption texts by name, from ``poolkit/page/captions/*.rst`` (reST literals made plain)."""
    captions = {}
    for entry in (PAGE / "captions").iterdir():
        if entry.name.endswith(".rst"):
            text = " ".join(entry.read_text(encoding="utf-8").split())
            captions[entry.name.removesuffix(".rst")] = re.sub(r"``([^`]+)``", r"\1", text)
    return dict(sorted(captions.items()))


def data_uri(path: str | Path, mime: str) -> str:
    """A file's bytes as a ``data:`` URI (the page stays one self-contained file)."""
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure(path: str | Path, caption: str, alt: str | None = None, note: str = "") -> dict[str, Any]:
    """A PNG figure block: the image embedded, its caption and an optional note of numbers."""
    return {
        "kind": "figure",
        "src": data_uri(path, "image/png"),
        "caption": caption,
        "alt": alt or caption,
        "note": note,
    }


def paragraph(text: str) -> dict[str, Any]:
    """A paragraph block."""
    return {"kind": "paragraph", "text": text}


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table(frame: pd.DataFrame, digits: int = 3, left: Sequence[str] = (), caption: str = "") -> dict[str, Any]:
    """A table block (floats to ``digits`` significant places); ``left`` columns align left."""
    return {
        "kind": "table",
        "caption": caption,
        "columns": [{"name": str(c), "left": c in left} for c in frame.columns],
        "rows": [[_cell(v, digits) for v in row] for row in frame.itertuples(index=False)],
    }


def key_values(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """A two-column block of labels and values."""
    return {"kind": "keyvalues", "pairs": [(str(k), str(v)) for k, v in pairs.items()]}


def file_link(path: str | Path, label: str) -> dict[str, Any]:
    """A link that saves a results file embedded in the page (e.g. a full TSV table)."""
    mime = "text/tab-separated-values" if str(path).endswith(".tsv") else "application/octet-stream"
    return {"kind": "file_link", "href": data_uri(path, mime), "filename": Path(path).name, "label": label}


def render(title: str, run: str, cards: list[dict[str, str]], sections: list[Section]) -> str:
    """The whole page of run ``run`` (its name, config key run.name) from the package's template."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "page"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2").render(title=title, run=run, cards=cards, sections=sections)
