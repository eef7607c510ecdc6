"""Signed acknowledgement links: a supervisor acknowledges from the WeCom message or the
e-mail with one tap, without logging in. The link carries the alert id and an expiry, signed
with HMAC-SHA256 under `NOTIFIER_ACK_SECRET`; nothing else is trusted."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote

MIN_SECRET_LENGTH = 16


class AckLinkError(ValueError):
    """The link is malformed, forged or expired."""


class AckLinks:
    def __init__(self, secret: str, base_url: str, valid_for: timedelta = timedelta(days=14)):
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"NOTIFIER_ACK_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        self._key = secret.encode()
        self._base = base_url.rstrip("/")
        self._valid_for = valid_for

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def token(self, alert_id: int, now: datetime) -> str:
        expires = int((now + self._valid_for).timestamp())
        payload = f"{alert_id}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def url(self, alert_id: int, now: datetime) -> str:
        return f"{self._base}/v1/ack?token={quote(self.token(alert_id, now))}"

    def verify(self, token: str, now: datetime) -> int:
        """The alert id the token acknowledges; `AckLinkError` otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise AckLinkError("malformed acknowledgement link")
        payload = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(payload), parts[2]):
            raise AckLinkError("acknowledgement link signature does not match")
        if int(parts[1]) < now.timestamp():
            raise AckLinkError("acknowledgement link has expired")
        return int(parts[0])
