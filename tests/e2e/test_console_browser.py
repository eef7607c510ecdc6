"""The review console in a real browser (Debian's chromium, driven by selenium through
/usr/bin/chromedriver) against the scorer and the notifier as processes on real Kafka and
PostgreSQL: a reviewer signs in with a token, opens the flagged employee's case from the queue,
dismisses it with a reason, and the resolved notice reaches the notifier's webhook (its
stand-in); a supervisor opening a case outside their subtree gets the 403 page."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from shared.auth import Role
from tests import factories as f
from tests.apps import eventually, issue_token, service_process
from tests.infra import Infra, unique
from tests.kafka_helpers import produce
from tools.browser import chromium, chromium_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not chromium_available() and not os.environ.get("CI"),
        reason="chromium and chromium-driver are not installed (make bootstrap installs them)",
    ),
]
MONTH = "2026-10"
T = TypeVar("T")
GONE_MESSAGES = ("does not belong to the document", "No node with given id")
"""How chromium's driver answers about a node its page removed when selenium does not map the
answer to a stale element (a plain WebDriverException, 'unknown error: unhandled inspector
error')."""


def node_gone(exc: WebDriverException) -> bool:
    """The exception says the element is gone from the page (not found, stale, or removed):
    look again. Any other error is real and raised at once, not waited out."""
    return isinstance(exc, NoSuchElementException | StaleElementReferenceException) or any(
        m in (exc.msg or "") for m in GONE_MESSAGES
    )


def until(browser: WebDriver, found: Callable[[WebDriver], T]) -> T:
    """`found` once it returns something true within 30 s, tried again while the element it
    reads is gone from the page (the page's scripts render parts of it after the load, and a
    form's answer replaces the whole document)."""

    def attempt(b: WebDriver) -> T | bool:
        try:
            return found(b)
        except WebDriverException as exc:
            if node_gone(exc):
                return False
            raise

    return cast(T, WebDriverWait(browser, 30).until(attempt))


def org() -> list[dict[str, Any]]:
    early = "2026-08-01T09:00:00+08:00"
    people = [("boss", None, "t0"), ("lead1", "boss", "t1"), ("lead2", "boss", "t2")]
    people += [("m1", "lead1", "t1"), ("m2", "lead2", "t2")]
    return [
        {**f.employee(e, team_id=t, supervisor_id=s), "occurred_at": early} for e, s, t in people
    ]


def peer_adds(employee: str) -> list[dict[str, Any]]:
    return [f.add(employee, f"wp-{employee}-{d}", f.at(f"{MONTH}-{d:02d}")) for d in range(5, 10)]


def text_of(browser: WebDriver, element: str, holds: str = "", by: str = By.ID) -> str:
    """The element's text once the page has loaded and it holds `holds` (any text by
    default)."""

    def read(b: WebDriver) -> str | bool:
        if b.execute_script("return document.readyState") != "complete":
            return False
        text: str = b.find_element(by, element).text
        return bool(text) and holds in text and text

    return cast(str, until(browser, read))


def click(browser: WebDriver, by: str, value: str) -> None:
    """Click the element, found again if the page replaced it before the click landed."""

    def clicked(b: WebDriver) -> bool:
        b.find_element(by, value).click()
        return True

    until(browser, clicked)


def replaced(browser: WebDriver, element: WebElement) -> None:
    """Wait until the page that held `element` is gone (a form was posted)."""

    def gone(_: WebDriver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException as exc:
            if node_gone(exc):
                return True
            raise
        return False

    WebDriverWait(browser, 30).until(gone)


def sign_in(browser: WebDriver, base: str, token: str) -> None:
    browser.get(f"{base}/console/login")
    field = browser.find_element(By.ID, "token")
    field.send_keys(token)
    browser.find_element(By.ID, "sign-in").click()
    replaced(browser, field)  # the next page, whatever it is


async def test_a_reviewer_dismisses_a_case_and_the_alert_resolves(
    infra: Infra, database: str, tmp_path: Path
) -> None:
    from tests.standins.webhook_sink import free_port, webhook_sink

    suffix = unique("console")
    topics = {
        "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
        "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
        "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
        "TOPIC_RAW_CALLBACKS": f"wecom.raw-events.{suffix}",
    }
    adds = [*peer_adds("m1"), f.add("m2", "wm-m2-1", f.at(f"{MONTH}-06"))]
    profiles = [
        *(
            f.profile(a["ExternalUserID"], contact_type=2, corp_name="某某农商银行")
            for a in adds
            if a["UserID"] == "m1"
        ),
        f.profile("wm-m2-1"),
    ]
    ports = {"scorer": free_port(), "notifier": free_port()}
    async with webhook_sink() as sink:
        env = {
            **os.environ,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "NOTIFIER_WEBHOOK_URL": sink.url,
            "SCORER_GROUP_ID": f"scorer-{suffix}",
            "NOTIFIER_GROUP_ID": f"notifier-{suffix}",
            "SCORER_PORT": str(ports["scorer"]),
            "NOTIFIER_PORT": str(ports["notifier"]),
            "CLOSE_PERIOD_KINDS": "[]",
            "REFRESH_SETTLE_SECONDS": '{"day": 0.2, "week": 0.2, "month": 0.2, "quarter": 0.2}',
        }
        env.pop("NOTIFIER_CONFIG", None)
        async with (
            service_process("scorer", env, ports["scorer"], tmp_path),
            service_process("notifier", env, ports["notifier"], tmp_path),
        ):
            await produce(infra, topics["TOPIC_BANK_RECORDS"], org() + profiles, key="org")
            await produce(infra, topics["TOPIC_CONTACT_EVENTS"], adds, key="e")

            def anomaly_hooks(status: str) -> list[dict[str, Any]]:
                return [
                    a
                    for hook in sink.received
                    for a in hook.get("alerts", [])
                    if a["labels"].get("alertname") == "AnomalyFlagged"
                    and a["labels"].get("employee_id") == "m1"
                    and a["labels"].get("period") == MONTH
                    and a.get("status") == status
                ]

            async def firing() -> int:
                return len(anomaly_hooks("firing"))

            await eventually(firing, lambda n: n >= 1, timeout=90)
            risk = await issue_token(infra.app_dsn(database), Role.RISK)
            lead2 = await issue_token(infra.app_dsn(database), Role.SUPERVISOR, "lead2")
            base = f"http://127.0.0.1:{ports['scorer']}"

            def review() -> dict[str, str]:
                browser = chromium(1280, 900)
                try:
                    sign_in(browser, base, risk)
                    assert browser.current_url.endswith("/console/cases"), browser.page_source
                    queue = text_of(browser, "cases")
                    assert "m1" in queue and "PEER_INSTITUTION" in queue, queue
                    click(browser, By.LINK_TEXT, "m1")
                    assert text_of(browser, "case-status") == "open"
                    case_url = browser.current_url
                    assert "PEER_INSTITUTION" in browser.page_source
                    # the API's contacts listing, with flags, and the adds drawn on the
                    # timeline, both rendered by the page's script after the load
                    text_of(browser, "contacts", "wp-m1-5")
                    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline rect"))
                    browser.find_element(By.ID, "reason").send_keys(
                        "代发工资合作行，已核实 verified"
                    )
                    before = browser.find_element(By.ID, "case-status")
                    browser.find_element(By.ID, "dismiss").click()
                    # the form posts and the case page loads again: read the new page, not
                    # the one being replaced (slow on a busy machine)
                    replaced(browser, before)
                    notice = text_of(browser, "message", "Dismissed")
                    status = text_of(browser, "case-status")
                    decisions = text_of(browser, "decisions")
                    return {
                        "url": case_url,
                        "status": status,
                        "notice": notice,
                        "decisions": decisions,
                    }
                finally:
                    browser.quit()

            seen = await asyncio.to_thread(review)
            assert seen["status"] == "dismissed", seen
            assert "Dismissed" in seen["notice"] and "dismiss" in seen["decisions"], seen

            async def resolved() -> int:
                return len(anomaly_hooks("resolved"))

            await eventually(resolved, lambda n: n >= 1, timeout=90)

            def outside() -> tuple[str, str]:
                browser = chromium(390, 844)  # a phone
                try:
                    sign_in(browser, base, lead2)
                    queue = text_of(browser, "cases")
                    browser.get(seen["url"])  # m1 is lead1's, not lead2's
                    return queue, text_of(browser, "main", by=By.TAG_NAME)
                finally:
                    browser.quit()

            queue, page = await asyncio.to_thread(outside)
            assert "m1" not in queue
            assert "403" in page and "outside the caller's scope" in page
