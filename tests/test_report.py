"""The report page: one template, autoescape on, captions shared with Snakemake's report."""

from pathlib import Path

import pandas as pd

from poolkit.report import Section, key_values, paragraph, read_captions, render, table

ROOT = Path(__file__).resolve().parents[1]


def test_title_and_values_are_escaped():
    title = "<script>alert('x')</script> & <b>bold</b>"
    sections = [
        Section(
            "one",
            "A & B",
            [paragraph("1 < 2 & <i>x</i>"), key_values({"<k>": "&v"}), table(pd.DataFrame({"<c>": ["<td>"]}))],
        ),
    ]
    cards = [{"key": "k", "label": "<l>", "value": "&", "note": "<n>"}]
    page = render(title, "tiny", cards, sections)
    assert "<script>alert" not in page and "<b>bold" not in page and "<i>x" not in page
    assert "<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</title>" in page
    assert "<h1>&lt;script&gt;" in page and "1 &lt; 2 &amp; &lt;i&gt;x&lt;/i&gt;" in page
    assert "&lt;td&gt;" in page and "&lt;k&gt;" in page and ">A &amp; B</a>" in page


def test_every_figure_caption_of_the_snakemake_report_is_read_by_the_page():
    captions = read_captions()
    assert len(captions) >= 19
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    script = (ROOT / "scripts/render_report.py").read_text()
    for name in captions:
        assert f'caption=caption("{name}")' in rules, f"{name}.rst is used by no rule"
        assert f'["{name}"]' in script, f"the page does not show the caption {name}.rst"
