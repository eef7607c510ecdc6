"""E-mail over SMTP (aiosmtplib): plain text and HTML alternatives, and a Message-ID derived
from the digest's idempotency key, so a mail re-sent after a crash is recognisably the same."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from pydantic import SecretStr

from services.notifier import org
from services.notifier.channels.base import PermanentFailure, Target
from services.notifier.domain.config import Smtp
from services.notifier.domain.digest import Digest, email_html, email_plain, email_subject
from shared.db import Connection


class EmailChannel:
    def __init__(self, smtp: Smtp, password: SecretStr | None, timeout: float) -> None:
        self._smtp = smtp
        self._password = password
        self._timeout = timeout

    def render(self, digest: Digest) -> Sequence[Any]:
        return [(email_subject(digest), email_plain(digest), email_html(digest))]

    async def send(self, conn: Connection, target: Target, part: Any) -> None:
        address = await self._address(conn, target.destination)
        subject, plain, html = part
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = address
        message["Subject"] = subject
        digest = hashlib.sha256(target.idempotency_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@wecom-notifier>"
        message.set_content(plain)
        message.add_alternative(html, subtype="html")
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
