"""Signing in to the review console (/console) from a test's HTTP client, as a browser would:
the sign-in form's CSRF token and cookie, then the session cookie. The cookies are Secure, so
they are sent here by hand (httpx keeps Secure cookies for https only)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class ConsoleSession:
    cookie: str  # the session cookie, as a Cookie header's value
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"cookie": self.cookie}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found[1]


async def sign_in(client: httpx.AsyncClient, token: str) -> ConsoleSession:
    form = await client.get("/console/login", headers={"authorization": ""})
    assert form.status_code == 200, form.text
    login_cookie = form.cookies["wq_console_login"]
    answer = await client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(form.text)},
        headers={"cookie": f"wq_console_login={login_cookie}", "authorization": ""},
    )
    assert answer.status_code == 303, answer.text
    session = answer.cookies["wq_console"]
    cookie = f"wq_console={session}"
    page = await client.get("/console/cases", headers={"cookie": cookie, "authorization": ""})
    return ConsoleSession(cookie, csrf_of(page.text) if page.status_code == 200 else "")
