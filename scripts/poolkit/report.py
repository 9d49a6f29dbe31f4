"""The self-contained HTML report: every number read from a results file."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="icon" href="data:,">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #c03d3e;padding-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em} th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555} .headline{display:flex;gap:1em;flex-wrap:wrap}
.card{background:#f7f7f9;border-radius:8px;padding:.6em 1em;min-width:10em} .card b{font-size:1.5em;display:block}
nav a{margin-right:1em} .scroll{overflow-x:auto;max-width:100%} code{background:#f3f3f3;padding:0 .2em} .note{color:#555;font-size:.9em}
</style></head><body>
<h1>{{ title }}</h1>
<nav>{% for s in sections %}<a href="#{{ s.id }}">{{ s.title }}</a>{% endfor %}</nav>
<div class="headline">
{% for card in cards %}<div class="card"><span>{{ card.label }}</span><b data-metric="{{ card.key }}">{{ card.value }}</b><span class="note">{{ card.note }}</span></div>{% endfor %}
</div>
{% for s in sections %}
<section id="{{ s.id }}"><h2>{{ s.title }}</h2>
{% for block in s.blocks %}{{ block }}
{% endfor %}</section>
{% endfor %}
</body></html>
"""
)


def figure(path: str | Path, caption: str) -> str:
    """An ``<figure>`` with the PNG embedded as base64."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def table(frame: pd.DataFrame, digits: int = 3, left: Sequence[str] = ()) -> str:
    """An HTML table of a data frame, numbers rounded to ``digits`` significant places."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return html.escape(str(value))

    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"l" if c in left else ""}">{cell(v)}</td>' for c, v in zip(frame.columns, r, strict=True)
        )
        + "</tr>"
        for r in frame.itertuples(index=False)
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def key_values(pairs: Mapping[str, Any]) -> str:
    """A two-column table of labels and values."""
    rows = "".join(
        f'<tr><th class="l">{html.escape(k)}</th><td class="l">{html.escape(str(v))}</td></tr>'
        for k, v in pairs.items()
    )
    return f"<table>{rows}</table>"


def paragraph(text: str) -> str:
    """A paragraph of escaped text."""
    return f"<p>{html.escape(text)}</p>"


def render(title: str, cards: list[dict[str, str]], sections: list[dict[str, Any]]) -> str:
    """The whole page."""
    return TEMPLATE.render(title=title, cards=cards, sections=sections)
