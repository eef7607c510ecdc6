"""A digest: everything one recipient should hear about one period, as one readable message
per channel (robot or app markdown, e-mail plain text and HTML, Alertmanager JSON).

Pure rendering: the same members always render the same parts, so a digest re-sent after a
crash repeats exactly the part that was in flight."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifier.domain.alertmanager import AlertView, webhook_payload
from services.notifier.domain.routing import is_email
from services.notifier.domain.splitting import split_lines

TITLES = {
    "TargetMissed": "未达标 Target missed",
    "PaceBehind": "进度落后 Pace behind",
    "AnomalyFlagged": "异常 Anomaly flagged",
    "DataStale": "数据中断 Data stale",
    "CloseHeld": "关账暂缓 Close held",
}


@dataclass(frozen=True)
class DigestItem:
    alert_id: int
    alertname: str
    status: str
    employee_id: str | None
    period: str
    supervisor_id: str | None
    team_id: str | None
    branch_id: str | None
    summary: str
    starts_at: datetime
    level: int = 0
    ack_url: str | None = None

    def labels(self) -> dict[str, str]:
        labels = {
            "alertname": self.alertname,
            "employee_id": self.employee_id or "",
            "supervisor_id": self.supervisor_id or "",
            "team_id": self.team_id or "",
            "branch_id": self.branch_id or "",
            "period": self.period,
        }
        return {k: v for k, v in labels.items() if v}


@dataclass(frozen=True)
class Digest:
    recipient: str
    period: str
    items: tuple[DigestItem, ...]

    @property
    def firing(self) -> list[DigestItem]:
        return [i for i in self.items if i.status == "firing"]

    @property
    def resolved(self) -> list[DigestItem]:
        return [i for i in self.items if i.status != "firing"]

    def headline(self) -> str:
        parts = []
        if self.firing:
            parts.append(f"{len(self.firing)} 条提醒 alerts")
        if self.resolved:
            parts.append(f"{len(self.resolved)} 条已恢复 resolved")
        return f"{self.period}: " + ", ".join(parts)


def _mention(recipient: str) -> str:
    return "" if is_email(recipient) or recipient == "ops" else f"<@{recipient}>"


def markdown_lines(digest: Digest) -> list[str]:
    lines: list[str] = []
    for item in digest.items:
        title = TITLES.get(item.alertname, item.alertname)
        escalated = " ⬆" if item.level else ""
        if item.status == "firing":
            line = f'> <font color="warning">{title}</font>{escalated} {item.summary}'
            if item.ack_url:
                line += f" [确认 ack]({item.ack_url})"
        else:
            line = f'> <font color="info">已恢复 resolved</font> {title}: {item.summary}'
        lines.append(line)
    return lines


def markdown_parts(digest: Digest, limit: int) -> list[str]:
    """Markdown with the recipient mentioned in every part, each part within `limit` bytes."""
    mention = _mention(digest.recipient)

    def header(i: int, n: int) -> str:
        count = f" ({i}/{n})" if n > 1 else ""
        return f"**{digest.headline()}**{count} {mention}".rstrip()

    return split_lines(header, markdown_lines(digest), limit)


def email_subject(digest: Digest) -> str:
    return f"[客户添加提醒] {digest.headline()}"


def email_plain(digest: Digest) -> str:
    lines = [digest.headline(), ""]
    for item in digest.items:
        title = TITLES.get(item.alertname, item.alertname)
        state = "" if item.status == "firing" else "[resolved] "
        lines.append(f"- {state}{title}: {item.summary}")
        if item.ack_url and item.status == "firing":
            lines.append(f"  acknowledge: {item.ack_url}")
    return "\n".join(lines) + "\n"


def email_html(digest: Digest) -> str:
    rows = []
    for item in digest.items:
        title = html.escape(TITLES.get(item.alertname, item.alertname))
        ack = (
            f'<a href="{html.escape(item.ack_url)}">确认 acknowledge</a>'
            if item.ack_url and item.status == "firing"
            else ""
        )
        rows.append(
            f"<tr><td>{html.escape(item.status)}</td><td>{title}</td>"
            f"<td>{html.escape(item.employee_id or '')}</td>"
            f"<td>{html.escape(item.summary)}</td><td>{ack}</td></tr>"
        )
    return (
        f"<html><body><h3>{html.escape(digest.headline())}</h3>"
        "<table border='1' cellpadding='4'><tr><th>status</th><th>alert</th><th>employee</th>"
        "<th>summary</th><th></th></tr>" + "".join(rows) + "</table></body></html>"
    )


def alertmanager_body(digest: Digest, receiver: str, external_url: str) -> dict[str, Any]:
    views = [
        AlertView(
            labels=item.labels(),
            annotations={"summary": item.summary},
            status=item.status,
            starts_at=item.starts_at,
        )
        for item in digest.items
    ]
    return webhook_payload(receiver, views, external_url=external_url)


def digest_key(member_keys: Sequence[str]) -> str:
    """One member: its own key (a webhook receiver sees the notice's key); several: a stable
    hash of the sorted member keys."""
    if len(member_keys) == 1:
        return member_keys[0]
    joined = "\n".join(sorted(member_keys)).encode()
    return "digest:" + hashlib.sha256(joined).hexdigest()[:40]
