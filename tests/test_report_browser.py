"""The report in a real headless browser (Debian's chromium through selenium)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.system]
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SECTIONS = ["run", "data", "exercise", "invariance", "features", "head"]


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (tests/system_deps.sh installs them as root with apt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_report_loads_with_every_image_and_no_console_error(tiny_run, browser):
    browser.get((tiny_run / "results/report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);"
    )
    assert len(images) == 11
    broken = [i for i, (complete, width, height) in enumerate(images) if not complete or width == 0 or height == 0]
    assert not broken, f"broken images: {broken}"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    for section in SECTIONS:
        heading = browser.execute_script(f"return document.querySelector('#{section} h2')?.textContent")
        assert heading, f"section {section} missing"
    headline = browser.execute_script("return document.querySelector('[data-metric=accuracy]').textContent")
    assert 0 <= float(headline) <= 1
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "results/test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-screenshot.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
