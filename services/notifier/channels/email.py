"""E-mail over SMTP (aiosmtplib): plain text and HTML alternatives (the daily digest's HTML
shows its chart inline, a CID-referenced PNG), and a Message-ID derived from the digest's
idempotency key, so a mail re-sent after a crash is recognisably the same."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from pydantic import SecretStr

from services.notifier import org
from services.notifier.channels.base import PermanentFailure, Target
from services.notifier.daily_chart import attainment_chart
from services.notifier.domain import daily
from services.notifier.domain.config import Smtp
from services.notifier.domain.daily import DailyContent
from services.notifier.domain.digest import Digest, email_html, email_plain, email_subject
from shared.db import Connection

CHART_CID = "attainment-chart@wecom-notifier"


@dataclass(frozen=True)
class MailPart:
    subject: str
    plain: str
    html: str
    inline_png: bytes | None = None  # referenced from the HTML as cid:CHART_CID


def daily_html(content: DailyContent) -> str:
    rows = []
    for r in content.ordered:
        target = "–" if r.target is None else str(r.target)
        attainment = "–" if r.attainment is None else f"{r.attainment:.0%}"
        colour = "" if r.attainment is None or r.attainment >= 1 else " style='color:#d9534f'"
        rows.append(
            f"<tr{colour}><td>{html.escape(r.name or r.employee_id)}</td>"
            f"<td>{html.escape(r.employee_id)}</td><td>{r.valid_adds}</td><td>{target}</td>"
            f"<td>{attainment}</td></tr>"
        )
    return (
        f"<html><body><h3>{html.escape(daily.title(content))}</h3>"
        "<table border='1' cellpadding='4'><tr><th>name</th><th>employee</th><th>valid</th>"
        "<th>target</th><th>attainment</th></tr>" + "".join(rows) + "</table>"
        f"<p><img src='cid:{CHART_CID}' alt='attainment against target'></p></body></html>"
    )


class EmailChannel:
    def __init__(self, smtp: Smtp, password: SecretStr | None, timeout: float) -> None:
        self._smtp = smtp
        self._password = password
        self._timeout = timeout

    def render(self, digest: Digest) -> Sequence[Any]:
        return [MailPart(email_subject(digest), email_plain(digest), email_html(digest))]

    def render_daily(self, content: DailyContent) -> Sequence[Any]:
        subject = f"[客户添加日报] {daily.title(content)}"
        png = attainment_chart(content)
        return [MailPart(subject, daily.plain_text(content), daily_html(content), png)]

    def render_ops(self, text: str) -> Sequence[Any]:
        lines = html.escape(text).replace("\n", "<br>\n")
        body = f"<html><body><p>{lines}</p></body></html>"
        first = text.splitlines()[0] if text else ""
        return [MailPart(f"[notifier ops] {first[:80]}", text + "\n", body)]

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        address = await self._address(conn, target.destination)
        mail: MailPart = part
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = address
        message["Subject"] = mail.subject
        digest = hashlib.sha256(target.idempotency_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@wecom-notifier>"
        message.set_content(mail.plain)
        message.add_alternative(mail.html, subtype="html")
        if mail.inline_png is not None:
            html_part = message.get_body(preferencelist=("html",))
            if not isinstance(html_part, EmailMessage):
                raise RuntimeError("the HTML alternative went missing from the mail")
            html_part.add_related(
                mail.inline_png, "image", "png", cid=f"<{CHART_CID}>", filename="attainment.png"
            )
        await aiosmtplib.send(
            message,
            hostname=self._smtp.host,
            port=self._smtp.port,
            username=self._smtp.username,
            password=self._password.get_secret_value() if self._password else None,
            start_tls=self._smtp.starttls,
            use_tls=self._smtp.use_tls,
            timeout=self._timeout,
        )

    @staticmethod
    async def _address(conn: Connection, destination: str) -> str:
        if destination.startswith("mail:"):
            return destination.removeprefix("mail:")
        employee = destination.removeprefix("employee:")
        address = await org.email_of(conn, employee)
        if not address:
            raise PermanentFailure(f"employee {employee} has no e-mail address")
        return address
