"""Headless Debian chromium driven by selenium through Debian's own driver
(/usr/bin/chromedriver): the console's browser tests and its screenshots. Nothing is downloaded
(selenium's driver manager cannot reach its servers here, and is not asked to)."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMEDRIVER = Path("/usr/bin/chromedriver")


def chromium_available() -> bool:
    return CHROMEDRIVER.exists() and shutil.which("chromium") is not None


def chromium(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """A headless chromium of this window size; the caller quits it."""
    if not chromium_available():
        raise RuntimeError(
            "chromium and chromium-driver are needed (apt-get install chromium chromium-driver; "
            "make bootstrap installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
