"""Personal data of external contacts: retention and erasure (PIPL; SECURITY.md, "Personal
data"). The pieces the scorer, the notifier and `wecom-quota erase` share:

- the keyed hash an erased contact is known by (`contact_hmac`: HMAC-SHA256 under
  ERASURE_HMAC_KEY), in the erasure list (`erased_contact`, migration 0017) and the audit log,
  never the id itself;
- `Governance`, what a consumer applies to the records it meets: the erasure list and the purge
  horizon, read in the consumer's transaction after `hold_shared`, so that an erasure or a purge
  (which hold the lock exclusively) is wholly before or wholly after a batch;
- the retention cutoff (`retention_cutoff`), and the blanking of contact ids in JSON (the
  anomaly evidence's `examples`, a breach's details)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from shared.db import Connection

ERASED = "(erased)"
"""What an erased contact's id becomes where a figure's explanation quoted it."""
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('contact-governance'))"
SHARED_LOCK_SQL = "SELECT pg_advisory_xact_lock_shared(hashtext('contact-governance'))"
STATE_SQL = "SELECT generation, purged_before FROM contact_governance"
NEW_ERASURES_SQL = """
SELECT erasure_id, contact_hmac FROM erased_contact WHERE erasure_id > $1 ORDER BY erasure_id
"""
EXAMPLES = "examples"
"""The key under which anomaly evidence lists contact ids (services/scorer/domain/anomaly.py)."""
# What an external_userid may be when an operator types one: WeCom's ids are letters, digits,
# `_` and `-` (`wm…`, `wo…`); anything else is a typo or a paste of more than the id.
EXTERNAL_USERID = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")


class ErasureKeyMissingError(RuntimeError):
    """Contacts are erased but this process has no ERASURE_HMAC_KEY to recognise them: it stops
    rather than store (or pass on) what was erased."""


def contact_hmac(key: SecretStr, external_userid: str) -> str:
    """The keyed hash an erased contact is listed and audited by (hex HMAC-SHA256)."""
    return hmac.new(
        key.get_secret_value().encode(), external_userid.encode(), hashlib.sha256
    ).hexdigest()


def retention_cutoff(now: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The first instant kept: the start of the month `months` before `now`'s month, in the
    business time zone (whole months go at once: a month is either kept or purged)."""
    local = now.astimezone(tz).date()
    index = local.year * 12 + local.month - 1 - months
    first = date(index // 12, index % 12 + 1, 1)
    return datetime.combine(first, time(), tz)


async def hold_shared(conn: Connection) -> None:
    """Until this transaction ends, no erasure or purge runs (they wait), and none is half done."""
    await conn.execute(SHARED_LOCK_SQL)


async def hold_exclusive(conn: Connection) -> None:
    """Until this transaction ends, no consumer batch and no stored recomputation runs."""
    await conn.execute(LOCK_SQL)


async def generation(conn: Connection) -> int:
    """Moves on with every erasure and purge (a computation from before one is stale)."""
    return int(await conn.fetchval("SELECT generation FROM contact_governance") or 0)


def walk_strings(value: Any, change: Callable[[str, str | None], str]) -> Any:
    """`value` (decoded JSON) with every string `s` replaced by `change(s, key)`, `key` being
    the object key it is under (None in a list or at the top), keys themselves included."""
    return _walk(value, change, None)


def _walk(value: Any, change: Callable[[str, str | None], str], key: str | None) -> Any:
    if isinstance(value, str):
        return change(value, key)
    if isinstance(value, list):
        return [_walk(v, change, key) for v in value]
    if isinstance(value, dict):
        return {change(k, None): _walk(v, change, k) for k, v in value.items()}
    return value


def blank_examples(value: Any) -> Any:
    """`value` with every contact id listed under an `examples` key removed (the counts beside
    them stay): what the retention purge leaves of an old explanation."""
    if isinstance(value, list):
        return [blank_examples(v) for v in value]
    if isinstance(value, dict):
        return {
            k: [] if k == EXAMPLES and isinstance(v, list) else blank_examples(v)
            for k, v in value.items()
        }
    return value


def has_examples(value: Any) -> bool:
    if isinstance(value, list):
        return any(has_examples(v) for v in value)
    if isinstance(value, dict):
        return any(
            (k == EXAMPLES and isinstance(v, list) and bool(v)) or has_examples(v)
            for k, v in value.items()
        )
    return False


@dataclass
class Governance:
    """The erasure list and purge horizon as a consumer applies them: `refresh` in each
    transaction that stores records (after `hold_shared`), then `erased` / `expired` per record.
    The list is kept in memory and only its new entries are read each time."""

    key: SecretStr | None
    purged_before: datetime | None = None
    generation: int = 0

    def __post_init__(self) -> None:
        self._hashes: set[str] = set()
        self._last_id = 0

    @property
    def erasures(self) -> int:
        return len(self._hashes)

    async def refresh(self, conn: Connection, strict: bool = True) -> None:
        """Take the shared lock, then read the state an erasure or purge left. `strict`: stop
        (ErasureKeyMissingError) when contacts are erased and there is no key to recognise them;
        otherwise `scrub` then blanks every example, not knowing which is erased."""
        await hold_shared(conn)
        row = await conn.fetchrow(STATE_SQL)
        if row is not None:
            self.generation = int(row["generation"])
            self.purged_before = row["purged_before"]
        for r in await conn.fetch(NEW_ERASURES_SQL, self._last_id):
            self._hashes.add(r["contact_hmac"])
            self._last_id = r["erasure_id"]
        if strict and self._hashes and self.key is None:
            raise ErasureKeyMissingError(
                f"{len(self._hashes)} contact(s) are erased but ERASURE_HMAC_KEY is not set: "
                "this service cannot recognise them, and stops rather than store them again"
            )

    def erased(self, external_userid: str | None) -> bool:
        if not external_userid or not self._hashes or self.key is None:
            return False
        return contact_hmac(self.key, external_userid) in self._hashes

    def expired(self, at: datetime | None) -> bool:
        """About a time before the purge horizon: its data was purged, it is not stored again."""
        return at is not None and self.purged_before is not None and at < self.purged_before

    def scrub(self, value: Any) -> Any:
        """`value` (decoded JSON) with every erased contact's id replaced by ERASED (without
        the key: every contact id quoted as an example removed)."""
        if not self._hashes:
            return value
        if self.key is None:
            return blank_examples(value)
        return walk_strings(value, lambda s, _key: ERASED if self.erased(s) else s)
