"""Signed acknowledgement links: a supervisor acknowledges from the WeCom message or the
e-mail with one tap, without logging in. The link carries the alert id, the recipient it was
sent to and an expiry, signed with HMAC-SHA256 under `NOTIFIER_ACK_SECRET`; nothing else is
trusted. The acknowledgement is recorded as that recipient's."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

MIN_SECRET_LENGTH = 16


class AckLinkError(ValueError):
    """The link is malformed, forged or expired."""


@dataclass(frozen=True)
class AckLink:
    """What a verified link says: this alert, acknowledged by this recipient."""

    alert_id: int
    recipient: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckLinks:
    """A link is for one alert and one recipient (the person the notice went to), and expires:
    `<alert id>.<recipient, base64url>.<expiry>.<HMAC-SHA256 of the three>`."""

    def __init__(self, secret: str, base_url: str, valid_for: timedelta = timedelta(days=14)):
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"NOTIFIER_ACK_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        self._key = secret.encode()
        self._base = base_url.rstrip("/")
        self._valid_for = valid_for

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def token(self, alert_id: int, recipient: str, now: datetime) -> str:
        expires = int((now + self._valid_for).timestamp())
        payload = f"{alert_id}.{_b64(recipient.encode())}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def url(self, alert_id: int, recipient: str, now: datetime) -> str:
        return f"{self._base}/v1/ack?token={quote(self.token(alert_id, recipient, now))}"

    def verify(self, token: str, now: datetime) -> AckLink:
        """The alert and recipient the token names; `AckLinkError` otherwise."""
        parts = token.split(".")
        # ASCII only: hmac.compare_digest refuses other text, and "²".isdigit() holds
        if (
            not token.isascii()
            or len(parts) != 4
            or not parts[0].isdigit()
            or not parts[2].isdigit()
        ):
            raise AckLinkError("malformed acknowledgement link")
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(payload), parts[3]):
            raise AckLinkError("acknowledgement link signature does not match")
        if int(parts[2]) < now.timestamp():
            raise AckLinkError("acknowledgement link has expired")
        try:
            recipient = _unb64(parts[1]).decode()
        except ValueError as exc:  # signed by us, so never; but never a 500 either
            raise AckLinkError("malformed acknowledgement link") from exc
        return AckLink(int(parts[0]), recipient)
