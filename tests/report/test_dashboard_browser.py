"""The dashboard as a person sees it: headless Chromium opens the built site from disk.

Needs Debian's ``chromium`` and ``chromium-driver`` and selenium from PyPI
(selenium is told never to download a browser or a driver). Skipped, with the
reason, where any of them is missing.

Set ``BLOCKSPEC_SCREENSHOT=path.png`` to keep a screenshot of the matrix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.report import build_dashboard, load_results, merge_runs
from tests.helpers import HTML_NAME, result_document, write_result

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless browser test needs chromium and chromedriver on PATH "
    "(Debian: apt-get install -y chromium chromium-driver); CI installs them",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="headless browser test needs selenium (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    where = tmp_path_factory.mktemp("browser")
    paths = [
        write_result(
            where / "torch.json",
            result_document("torch", "2.9", statuses={"SEQ-INDEX": "fail", "PARAM-TYPE": "not-applicable"}),
        ),
        write_result(
            where / "ref.json",
            result_document("reference", "0.1", statuses={"TIE-GRAD-SUM": "blocked", "DEV-MULTI-DEVICE": "skipped"}),
        ),
        write_result(
            where / "evil.json", result_document(HTML_NAME, "1", statuses={"BLOCK-NESTING": "error"}, message=HTML_NAME)
        ),
    ]
    merged = merge_runs(load_results(paths))
    build_dashboard(merged, where / "site")
    return where / "site", merged


def _console_errors(driver: Any) -> list[str]:
    return [f"{e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def test_matrix_shows_every_clause_and_run_with_the_json_status(browser: Any, site: tuple[Path, Any]) -> None:
    from selenium.webdriver.common.by import By

    root, merged = site
    browser.get((root / "index.html").as_uri())
    shot = os.environ.get("BLOCKSPEC_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)
    cells = browser.find_elements(By.CSS_SELECTOR, "#matrix td.cell")
    seen = {}
    for cell in cells:
        row = cell.find_element(By.XPATH, "./ancestor::tr[1]").get_attribute("data-clause")
        seen[(row, int(cell.get_attribute("data-run")))] = cell.text.strip()
    expected = {
        (cid, number): verdict.status
        for number, run in enumerate(merged.columns, 1)
        for cid, verdict in run.verdicts.items()
    }
    missing = sorted(set(expected) - set(seen))
    assert not missing, f"observed no cell for {missing[:5]}; expected one per clause × run ({len(expected)})"
    wrong = [(key, seen[key], status) for key, status in expected.items() if seen[key] != status]
    assert not wrong, f"observed (cell, shown, JSON) mismatches {wrong[:5]}; expected the JSON status shown"
    assert len(cells) == len(expected), f"observed {len(cells)} cells; expected {len(expected)}"
    assert not _console_errors(browser), f"observed console messages {_console_errors(browser)}; expected none"


def test_html_backend_name_stays_inert(browser: Any, site: tuple[Path, Any]) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    root, _ = site
    for page in ("index.html", "runs.html", "clauses/BLOCK-NESTING.html"):
        browser.get((root / page).as_uri())
        images = browser.find_elements(By.TAG_NAME, "img")
        assert not images, f"observed {len(images)} <img> element(s) on {page}; expected the backend name as text"
        body = browser.find_element(By.TAG_NAME, "body").text
        assert HTML_NAME in body, f"observed {page} without the literal backend name {HTML_NAME!r} as text"
        try:
            text = browser.switch_to.alert.text
        except NoAlertPresentException:
            text = None
        assert text is None, f"observed an alert {text!r} on {page}; expected the onerror handler never to run"
        assert not _console_errors(browser), f"observed console messages on {page}: {_console_errors(browser)}"


def test_a_cell_opens_its_clause_page(browser: Any, site: tuple[Path, Any]) -> None:
    from selenium.webdriver.common.by import By

    root, merged = site
    browser.get((root / "index.html").as_uri())
    number = next(n for n, run in enumerate(merged.columns, 1) if run.backend == "torch")
    link = browser.find_element(By.CSS_SELECTOR, f'tr[data-clause="SEQ-INDEX"] td[data-run="{number}"] a')
    link.click()
    assert browser.current_url.endswith(f"clauses/SEQ-INDEX.html#run-{number}"), f"observed {browser.current_url}"
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert "SEQ-INDEX" in heading, f"observed heading {heading!r}; expected the clause id"
    rerun = browser.find_element(By.CSS_SELECTOR, "pre.rerun").text
    assert "--clause SEQ-INDEX" in rerun, f"observed rerun {rerun!r}; expected the command for SEQ-INDEX"
    row = browser.find_element(By.ID, f"run-{number}")
    assert row.get_attribute("data-status") == "fail", f"observed {row.get_attribute('data-status')}; expected fail"
    assert not _console_errors(browser), f"observed console messages {_console_errors(browser)}; expected none"
