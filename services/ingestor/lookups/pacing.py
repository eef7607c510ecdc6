"""How fast lookups go out, and when a failed one is tried again: pure, time passed in.

`Pace` is a token bucket whose rate follows AIMD: every 45009 (WeCom's "api freq out of
limit") halves it, at most once per `cut_every` seconds (a burst of 45009s answering requests
sent at the old rate is one signal, not ten), and it climbs back linearly to the configured
ceiling over `recovery_seconds`. The ceiling is the bank's share of WeCom's limit; the halving
finds the real one when someone else spends part of it. The climb starts `cut_every` after
the last cut."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager


class Pace:
    def __init__(
        self,
        ceiling: float,
        *,
        recovery_seconds: float = 60.0,
        floor: float = 0.5,
        cut_every: float = 1.0,
        burst_seconds: float = 0.05,
        now: float = 0.0,
    ) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self._floor = min(floor, ceiling)
        self._climb = ceiling / recovery_seconds  # requests/s gained per second
        self._cut_every = cut_every
        self._burst_seconds = burst_seconds
        self._tokens = 1.0
        self._at = now
        self._last_cut = now - cut_every

    @property
    def _burst(self) -> float:
        """Tokens the bucket holds at most: a few milliseconds' worth, so that no second
        window ever sees much more than the rate."""
        return max(1.0, self.rate * self._burst_seconds)

    def take(self, now: float) -> float:
        """Take one token: 0 when it was there, else the seconds to wait before asking again."""
        self._advance(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def rate_limited(self, now: float) -> None:
        """WeCom answered 45009: halve the rate (once per `cut_every`), empty the bucket."""
        self._advance(now)
        if now - self._last_cut >= self._cut_every:
            self.rate = max(self._floor, self.rate / 2)
            self._last_cut = now
        self._tokens = min(self._tokens, 0.0)

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        # the climb waits `cut_every` after a cut: 45009s still arriving are the same signal
        climbing = max(0.0, now - max(self._at, self._last_cut + self._cut_every))
        self._at = max(self._at, now)
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self._climb * climbing)
        self._tokens = min(self._burst, self._tokens + elapsed * self.rate)


def retry_delay(failures: int, base: float, cap: float, draw: random.Random) -> float:
    """Seconds before the next attempt after `failures` consecutive failures: exponential,
    capped, with jitter over the upper half (contacts that failed together do not all come
    back in the same instant, and none comes back sooner than half the backoff)."""
    exponent = min(max(failures, 1) - 1, 60)
    ceiling = min(cap, base * 2.0**exponent)
    return ceiling * (0.5 + draw.random() / 2)


class CallbackLoad:
    """Callbacks being answered right now. WeCom's 5 s come first: while at least `yield_at`
    are in flight (the ingestor is saturated), lookups wait; they have a durable backlog and
    catch up once the burst is over (0: lookups never wait)."""

    def __init__(self, yield_at: int) -> None:
        self.yield_at = yield_at
        self.inflight = 0

    def busy(self) -> bool:
        return self.yield_at > 0 and self.inflight >= self.yield_at

    @contextmanager
    def answering(self) -> Iterator[None]:
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1
