"""Screenshots of the review console for the docs: the case queue and one case page, at
1,280 px and on a phone, taken with headless chromium (tools/browser.py) from a running scorer.

    python -m tools.console_screenshots [--url http://127.0.0.1:8081] [--token-file F] [--case N]

By default it signs in to `make up`'s scorer with the admin token `make up` issued
(.run/secrets/admin_api_token) and opens the newest open case (else the newest case). Writes
docs/console-queue.png, docs/console-case.png and docs/console-case-phone.png."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tools.browser import chromium

ROOT = Path(__file__).resolve().parents[1]


def sign_in(browser: WebDriver, url: str, token: str) -> None:
    browser.get(f"{url}/console/login")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "sign-in").click()
    if not browser.current_url.endswith("/console/cases"):
        raise SystemExit(f"sign-in failed at {browser.current_url}")


def full_page(browser: WebDriver, path: Path, width: int) -> None:
    """The whole page: the window is grown to the document's height first."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(width, min(max(height + 40, 600), 4000))
    browser.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.console_screenshots")
    parser.add_argument("--url", default="http://127.0.0.1:8081", help="the scorer")
    parser.add_argument("--token-file", type=Path, default=ROOT / ".run/secrets/admin_api_token")
    parser.add_argument("--case", type=int, help="the case to show (default: the newest open)")
    parser.add_argument("--queue-query", default="", help="filters of the queue, e.g. period=…")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    if not args.token_file.exists():
        print(f"no token at {args.token_file}: run `make up` or pass --token-file", file=sys.stderr)
        return 2
    token = args.token_file.read_text().strip()
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium(1280, 900)
    try:
        sign_in(browser, args.url, token)
        browser.get(f"{args.url}/console/cases?{args.queue_query}")
        full_page(browser, args.out / "console-queue.png", 1280)
        case = args.case
        if case is None:
            rows = browser.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
            open_rows = [r for r in rows if "open" in r.text.split()] or rows
            links = open_rows[0].find_elements(By.TAG_NAME, "a") if open_rows else []
            if not links:
                print("no case to show", file=sys.stderr)
                return 1
            found = re.search(r"/console/cases/(\d+)", links[0].get_attribute("href") or "")
            case = int(found[1]) if found else 0
        browser.get(f"{args.url}/console/cases/{case}")
        full_page(browser, args.out / "console-case.png", 1280)
        browser.set_window_size(390, 844)
        browser.get(f"{args.url}/console/cases/{case}")
        full_page(browser, args.out / "console-case-phone.png", 390)
    finally:
        browser.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
