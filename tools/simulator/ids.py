"""Identifiers that look like the real ones, drawn from the scenario's seed.

WeCom external userids are `wm` (or `wo`) plus 28 URL-safe characters; userids of employees
are pinyin stems with a number (`zhangwei01`). All come from a seeded stream, so a scenario is
reproducible, and two seeds almost never share a contact or message id (ids are idempotency
keys downstream: a collision would silently merge two facts)."""

from __future__ import annotations

import random
import string

_URL_SAFE = string.ascii_letters + string.digits + "-_"


class IdFactory:
    """Unique ids for one scenario."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._external: set[str] = set()
        self._employees: set[str] = set()
        self._messages = 0
        self._message_prefix = "".join(rng.choice(string.hexdigits.lower()) for _ in range(8))

    def reseed(self, rng: random.Random) -> None:
        """Draw from `rng` from now on, with a fresh message-id prefix (another month's ids)."""
        self._rng = rng
        self._message_prefix = "".join(rng.choice(string.hexdigits.lower()) for _ in range(8))

    def external_userid(self) -> str:
        """A fresh `wm` + 28 chars id, as WeCom gives for an external contact."""
        while True:
            candidate = "wm" + "".join(self._rng.choice(_URL_SAFE) for _ in range(28))
            if candidate not in self._external:
                self._external.add(candidate)
                return candidate

    def employee_id(self, stem: str) -> str:
        """`zhangwei01`, `zhangwei02`, ...: the first free number for this pinyin stem."""
        number = 1
        while f"{stem}{number:02d}" in self._employees:
            number += 1
        userid = f"{stem}{number:02d}"
        self._employees.add(userid)
        return userid

    def message_id(self) -> str:
        """A chat-archive message id (`msgid`), unique within the scenario and across seeds."""
        self._messages += 1
        return f"sim{self._message_prefix}_{self._messages:07d}"

    def welcome_code(self) -> str:
        """The one-time code WeCom hands out for sending a welcome message."""
        return "".join(self._rng.choice(_URL_SAFE) for _ in range(43))

    def unionid(self) -> str:
        """The WeChat open-platform unionid of a contact (`o` + 27 chars)."""
        return "o" + "".join(self._rng.choice(_URL_SAFE) for _ in range(27))

    def robot_key(self) -> str:
        """A group-robot webhook key (a UUID-shaped string)."""
        hexes = "".join(self._rng.choice("0123456789abcdef") for _ in range(32))
        return f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:]}"
