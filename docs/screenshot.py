"""Rebuild docs/dashboard.png from real result files, as README shows it.

    python docs/screenshot.py RESULT.json... [-o docs/dashboard.png]

Builds the dashboard of the given result files in a temporary directory,
opens it in headless Debian chromium (selenium, never downloading a browser)
and saves the top of the matrix as a PNG.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from conformance.report import build_dashboard, load_results, merge_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/dashboard.png"))
    args = parser.parse_args()
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build_dashboard(merge_runs(load_results(args.results)), site)
        options = webdriver.ChromeOptions()
        options.binary_location = str(shutil.which("chromium"))
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
        try:
            driver.get((site / "index.html").as_uri())
            driver.save_screenshot(str(args.output))
        finally:
            driver.quit()
    print(f"{args.output}: {args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()
