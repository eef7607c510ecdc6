"""Bank-wide figures that take seconds to compute at a bank's size — the dense-block pass over
a period's contact graph, the peers' baseline — are reused between refresh rounds for ten
times as long as they took (REUSE_SHARE), so that recomputing them takes at most about a tenth
of the refresh's time however large the bank. A figure computed quickly enough (a small bank,
the tests) is not reused unless a floor says so: it stays exact."""

from __future__ import annotations

from collections.abc import KeysView
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

REUSE_SHARE = 0.1
"""At most about this share of the refresh's time goes to recomputing a reused figure."""

WORTH_REUSING_SECONDS = 0.25
"""Below this, a figure is computed afresh each time."""


@dataclass(frozen=True)
class Computed(Generic[T]):
    """One computation: when it ended, how long it took, what it gave."""

    done_at: float
    seconds: float
    value: T

    def usable(self, now: float, floor: float = 0.0) -> bool:
        """Reused for `floor` seconds, or for 1 / REUSE_SHARE times as long as it took if it
        took WORTH_REUSING_SECONDS or more, whichever is longer."""
        reuse = self.seconds / REUSE_SHARE if self.seconds >= WORTH_REUSING_SECONDS else 0.0
        return now - self.done_at < max(floor, reuse)


class ReuseCache(Generic[T]):
    """Figures by period key. Only entries still usable are kept: not every period since the
    process started (a dense-block pass holds its blocks' contact lists)."""

    def __init__(self, floor: float = 0.0) -> None:
        self._floor = floor
        self._entries: dict[str, Computed[T]] = {}

    def get(self, key: str, now: float) -> T | None:
        entry = self._entries.get(key)
        return entry.value if entry is not None and entry.usable(now, self._floor) else None

    def put(self, key: str, started: float, now: float, value: T) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v.usable(now, self._floor)}
        self._entries[key] = Computed(now, now - started, value)

    def keys(self) -> KeysView[str]:
        return self._entries.keys()
