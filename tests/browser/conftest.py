"""Headless Chromium for the console's browser tests (Debian's `chromium` and `chromium-driver`).

A user's machine without them skips these tests and says what to install. CI sets
HUMWATCH_REQUIRE_BROWSER=1 (and CI=true), and there a missing browser fails the tests instead of
hiding them, as HUMWATCH_REQUIRE_SHARED_DATA does for the real recordings (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
README_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
# Pages whose screenshots the README shows (docs/images/console-{page}.png), refreshed from a run
# with HUMWATCH_UPDATE_SCREENSHOTS=1.
README_PAGES = ("fleet", "device", "clip")
WINDOW = (1280, 900)


def _browser_required() -> bool:
    return os.environ.get("HUMWATCH_REQUIRE_BROWSER") == "1" or bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[Path, Path]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return CHROMIUM, CHROMEDRIVER
    why = (
        f"the browser tests need Debian's chromium and chromium-driver: {', '.join(missing)} missing "
        "(apt-get install -y chromium chromium-driver)"
    )
    if _browser_required():
        pytest.fail(f"HUMWATCH_REQUIRE_BROWSER=1 or CI is set, but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def driver(chrome_paths: tuple[Path, Path]) -> Iterator[webdriver.Chrome]:
    chromium, chromedriver = chrome_paths
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        # Media may load and play without a user gesture (the test reads the audio's duration).
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(arg)
    options.binary_location = str(chromium)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(str(chromedriver)))
    browser.set_script_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="session")
def screenshot() -> Callable[[WebDriver, str], Path]:
    """Save the whole page as tests/browser/artifacts/{name}.png (and, with
    HUMWATCH_UPDATE_SCREENSHOTS=1, the README's docs/images/console-{name}.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    update_readme = os.environ.get("HUMWATCH_UPDATE_SCREENSHOTS") == "1"

    def take(browser: WebDriver, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        _full_page(browser, path)
        if update_readme and name in README_PAGES:
            README_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_IMAGES / f"console-{name}.png")
        return path

    return take


def _full_page(browser: WebDriver, path: Path) -> None:
    """The page at the window's width and its full height, then the window back as it was."""
    size = browser.get_window_size()
    full = int(browser.execute_script("return document.documentElement.scrollHeight"))
    # At most 1,800 px: a device's long clip list would make an unreadable README picture.
    browser.set_window_size(size["width"], max(size["height"], min(full + 140, 1800)))
    try:
        browser.save_screenshot(str(path))
    finally:
        browser.set_window_size(size["width"], size["height"])
