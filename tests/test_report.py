"""The report page: one template, autoescape on, captions shared with Snakemake's report."""

from pathlib import Path

import pandas as pd

from poolkit.report import Section, key_values, paragraph, read_captions, render, table
from poolkit.report_sections import share_pivot, stage_timings

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
    script = (ROOT / "scripts/poolkit/report_sections.py").read_text()
    for name in captions:
        assert f'caption=caption("{name}")' in rules, f"{name}.rst is used by no rule"
        assert f'["{name}"]' in script, f"the page does not show the caption {name}.rst"


def test_stage_timings_sum_a_rules_jobs_into_one_row(tmp_path):
    paths = []
    jobs = [("fit_head", "fit_head", 3.0, 50.0), ("run_trials", "s0", 2.0, 80.0), ("run_trials", "s1", 5.0, 60.0)]
    for rule, job, seconds, rss in jobs:
        path = tmp_path / rule / f"{job}.tsv"
        path.parent.mkdir(exist_ok=True)
        pd.DataFrame({"s": [seconds], "h:m:s": ["0:00:01"], "max_rss": [rss]}).to_csv(path, sep="\t", index=False)
        paths.append(str(path))
    timings = stage_timings(paths).set_index("rule")
    assert timings.loc["run_trials"].tolist() == [2, 7.0, 5.0, 80.0] and timings.loc["fit_head", "jobs"] == 1
    assert list(timings.columns) == ["jobs", "wall, all jobs (s)", "longest job (s)", "max RSS (MB)"]


def test_share_tables_show_exact_counts_and_intervals_per_depth():
    rows = [
        {"depth": depth, "interval_method": method, "n_shifts": n, "identical_share": value}
        | {"identical_share_lo": low, "identical_share_hi": high, "fill": "replicate", "pooling": "max"}
        for depth, method, n, value, low, high in [
            (1, "exact", 9, 5 / 9, 5 / 9, 5 / 9),
            (2, "wilson_t", None, 0.5, 0.4, 0.6),
        ]
    ]
    summary = pd.DataFrame(rows).assign(input="ring", mode="random", jitter=1)
    pivot = share_pivot(pd.concat([summary, summary.assign(jitter=2, depth=9)]), "ring", 1, "identical_share")
    assert pivot.to_dict("records") == [
        {"fill": "replicate", "pooling": "max", "depth 1 (%)": "55.6 (5/9, exact)", "depth 2 (%)": "50.0 [40.0, 60.0]"}
    ]
