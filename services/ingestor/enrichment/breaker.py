"""A circuit breaker for the WeCom API: pure, the clock is passed in.

When WeCom keeps failing (outage, revoked secret, sustained rate limiting), hammering it only
extends the rate limit; after `threshold` consecutive failures the breaker opens and calls are
skipped for `reset_seconds`, then one trial call decides (half-open)."""

from __future__ import annotations

from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, threshold: int, reset_seconds: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._reset = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failed(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
