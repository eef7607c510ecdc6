"""Normalization of a decrypted WeCom callback into a plain typed event: pure, no I/O.

Only the fields every callback carries are required. Unknown ChangeTypes and other events
(change_external_chat, change_external_tag, ...) must be accepted and kept, never crash the
receiver (docs/wecom.md section 1), so everything else is optional and the full field map travels
along as `raw`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.ingestor.wecom.crypto import ErrorCode, WeComError

__all__ = [
    "CONTACT_CHANGE_TYPES",
    "CONTACT_EVENT",
    "WeComEvent",
    "WeComEventError",
    "dedup_key",
    "normalize",
]

CONTACT_EVENT = "change_external_contact"
CONTACT_CHANGE_TYPES = frozenset(
    {
        "add_external_contact",
        "add_half_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "transfer_fail",
    }
)
REQUIRED_FIELDS = ("ToUserName", "CreateTime", "MsgType")
# Unix seconds: ASCII digits only (int() would also take "+1", "1_0" and non-ASCII digits);
# ten digits reach the year 2286.
_UNIX_SECONDS = re.compile(r"[0-9]{1,10}")
_DEDUP_VERSION = "wecom-callback/v1"


class WeComEventError(WeComError):
    """The decrypted message is not a usable callback (-40002, as an unparsable message)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.PARSE_XML, message)


@dataclass(frozen=True, slots=True)
class WeComEvent:
    """One callback. Optional fields are None when the element is absent, "" when empty:
    WeCom sends an empty State for links without one, and omits WelcomeCode altogether."""

    corp_id: str
    create_time: int
    msg_type: str
    event: str | None
    change_type: str | None
    user_id: str | None
    external_user_id: str | None
    state: str | None
    welcome_code: str | None
    source: str | None
    fail_reason: str | None
    raw: Mapping[str, str] = field(hash=False)

    @property
    def is_contact_change(self) -> bool:
        """A customer-contact change this product understands; everything else is only kept."""
        return self.event == CONTACT_EVENT and self.change_type in CONTACT_CHANGE_TYPES


def normalize(fields: Mapping[str, str]) -> WeComEvent:
    """Typed view of `parse_event` output; raises WeComEventError only for missing basics."""
    _require(fields)
    return WeComEvent(
        corp_id=fields["ToUserName"],
        create_time=_unix_seconds(fields["CreateTime"]),
        msg_type=fields["MsgType"],
        event=fields.get("Event"),
        change_type=fields.get("ChangeType"),
        user_id=fields.get("UserID"),
        external_user_id=fields.get("ExternalUserID"),
        state=fields.get("State"),
        welcome_code=fields.get("WelcomeCode"),
        source=fields.get("Source"),
        fail_reason=fields.get("FailReason"),
        raw=dict(fields),
    )


def dedup_key(event: WeComEvent) -> str:
    """Stable id shared by WeCom's retries of one callback (SHA-256 hex of a JSON array).

    Contact changes use the documented key (CorpID, ChangeType, UserID, ExternalUserID,
    CreateTime). Other events carry none of those ids (a group-chat change has a ChatId), so
    that key would merge distinct events of the same second; their key is the whole field map,
    which a retry repeats exactly. JSON keeps ("ab", "c") apart from ("a", "bc") and None
    apart from ""."""
    if event.is_contact_change:
        parts: list[object] = [
            _DEDUP_VERSION,
            "contact",
            event.corp_id,
            event.change_type,
            event.user_id,
            event.external_user_id,
            event.create_time,
        ]
    else:
        parts = [_DEDUP_VERSION, "other", event.corp_id, sorted(event.raw.items())]
    canonical = json.dumps(parts, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _require(fields: Mapping[str, str]) -> None:
    """Every callback names its corp, its time and its type; without them it cannot be kept."""
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name, "").strip()]
    if missing:
        raise WeComEventError(f"callback lacks required field(s): {', '.join(missing)}")


def _unix_seconds(text: str) -> int:
    """CreateTime as an integer; surrounding whitespace from pretty-printed XML is tolerated."""
    value = text.strip()
    if not _UNIX_SECONDS.fullmatch(value):
        raise WeComEventError(f"CreateTime must be integer unix seconds, got {value[:32]!r}")
    return int(value)
