"""The report in a real headless browser (Debian's chromium through selenium), at a laptop's and a
phone's width: layout, images, console, and the findings' numbers against the results files."""

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.system]
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SECTIONS = ["findings", "data", "exercise", "invariance", "network", "features", "heads", "run"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
NUMBER = re.compile(r"[-+]?\d+\.\d+")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (tests/system_deps.sh installs them as root with apt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def artifacts() -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "results/test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("device", WIDTHS)
def test_report_reads_well_at_laptop_and_phone_width(tiny_run, browser, device):
    width, height = WIDTHS[device]
    browser.set_window_size(width, height)
    browser.get((tiny_run / "results/tiny/report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images)"
        ".map(i => [i.complete, i.naturalWidth, i.alt, i.getBoundingClientRect().right]);"
    )
    assert len(images) == 14
    assert all(complete and natural > 0 for complete, natural, _, _ in images), "broken image"
    assert all(alt.strip() for _, _, alt, _ in images), "an image without alt text"
    inner = browser.execute_script("return window.innerWidth")
    assert all(right <= inner + 1 for _, _, _, right in images), "an image wider than the window"
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    ids = browser.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert ids == SECTIONS
    toc = browser.execute_script("return Array.from(document.querySelectorAll('nav.toc a')).map(a => a.hash)")
    assert toc == [f"#{s}" for s in SECTIONS]
    rows = browser.execute_script("return Array.from(document.querySelectorAll('table')).map(t => t.rows.length)")
    assert max(rows) <= 21, "a table longer than about 20 rows in the page"
    full = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(full + 200, 16000))
    shot = artifacts() / f"report-{device}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def expected_finding(key: str, results: Path) -> list[float]:
    """The numbers a finding must show, computed here from the results files."""
    kind, *rest = key.split(".")
    if kind in ("ring", "dataset"):
        metric, pooling, fill = rest
        summary = pd.read_csv(results / "invariance/summary_by_jitter.tsv", sep="\t")
        rows = summary[
            (summary["input"] == kind)
            & (summary["mode"] == "random")
            & (summary["jitter"] == 3)
            & (summary["pooling"] == pooling)
            & (summary["fill"] == fill)
        ]
        row = rows[rows["depth"] == rows["depth"].max()].iloc[0]
        if metric.endswith("_course"):  # exact rows: the share under the course's shifts
            return [100 * row[f"{metric.removesuffix('_course')}_course_share"]]
        column = f"{metric}_share"
        if row["interval_method"] == "exact":  # "k/n = share %": no interval
            return [100 * row[column]]
        return [100 * row[column], 100 * row[f"{column}_lo"], 100 * row[f"{column}_hi"]]
    if kind == "worst":
        metric, variant, protocol = rest
        row = pd.read_csv(results / "network/worst_shift.tsv", sep="\t").set_index(["variant", "protocol"])
        row = row.loc[(variant, protocol)]
        return [100 * row[f"{metric}_share"], 100 * row[f"{metric}_share_lo"], 100 * row[f"{metric}_share_hi"]]
    if kind == "network" and rest[0] == "accuracy":
        row = pd.read_csv(results / "network/heads.tsv", sep="\t").set_index("variant").loc[rest[1]]
        return [row["accuracy"], row["accuracy_lo"], row["accuracy_hi"]]
    if kind == "network" and rest[0] == "difference":
        variant, protocol, max_shift = rest[1:]
        table = pd.read_csv(results / "network/differences.tsv", sep="\t").set_index(
            ["variant", "protocol", "max_shift"]
        )
        row = table.loc[(variant, protocol, int(max_shift))]
        return [100 * row["difference"], 100 * row["difference_lo"], 100 * row["difference_hi"]]
    if kind == "network":
        variant, protocol, max_shift = rest
        table = pd.read_csv(results / "network/consistency.tsv", sep="\t").set_index(
            ["variant", "protocol", "max_shift"]
        )
        row = table.loc[(variant, protocol, int(max_shift))]
        return [100 * row["consistency"], 100 * row["consistency_lo"], 100 * row["consistency_hi"]]
    if kind in ("accuracy", "roc_auc"):
        row = pd.read_csv(results / "head/heads.tsv", sep="\t").set_index("model").loc[rest[0]]
        return [row[kind], row[f"{kind}_lo"], row[f"{kind}_hi"]]
    if kind == "difference":
        pair, metric = rest
        table = pd.read_csv(results / "head/differences.tsv", sep="\t").set_index(["comparison", "metric"])
        row = table.loc[(pair.replace("-", " - "), metric)]
        return [row["difference"], row["ci_low"], row["ci_high"]]
    raise AssertionError(f"the test does not know the finding {key!r}")


def test_findings_numbers_equal_the_results_files(tiny_run, browser):
    browser.get((tiny_run / "results/tiny/report.html").as_uri())
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#findings [data-finding]'))"
        ".map(e => [e.dataset.finding, e.textContent]);"
    )
    keys = {key for key, _ in shown}
    assert {
        "ring.identical.max.replicate",
        "ring.gap_equal.aps.replicate",
        "dataset.gap_equal.aps.wrap",
        "network.accuracy.max",
        "network.accuracy.aps_circular",
        "network.max.crop.8",
        "network.aps_circular.circular.8",
        "network.difference.aps_circular.circular.8",
        "worst.fooled.aps_circular.circular",
        "worst.fooled.max.crop",
        "accuracy.gap",
        "accuracy.flatten",
        "accuracy.gmp",
        "difference.gap-flatten.accuracy",
        "difference.gap-gmp.roc_auc",
    } <= keys
    for key, text in shown:
        shown_numbers = NUMBER.findall(text)
        expected = expected_finding(key, tiny_run / "results/tiny")
        assert len(shown_numbers) == len(expected), (key, text, expected)
        for number, value in zip(shown_numbers, expected, strict=True):
            decimals = len(number.split(".")[1]) if "." in number else 0
            # rounded as shown: half a unit of its last digit (1e-9 for the binary representation)
            assert abs(float(number) - value) <= 0.5 * 10**-decimals + 1e-9, (key, text, expected)
    first = browser.execute_script("return document.querySelector('#findings li').textContent")
    assert first.startswith("This run uses the embedded synthetic cars and trucks and randomly initialised VGG16")
