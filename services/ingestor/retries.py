"""Suppressing WeCom's retries of a callback already stored by this process.

WeCom retries (3 times, seconds apart) whenever our answer was late or lost. Every retry gets
the deterministic event_id the first delivery got, so the scorer would ignore a second copy;
this filter keeps the copy off the topic in the first place. A retry that arrives while the
first delivery is still being stored waits for that outcome instead of storing it again.
Memory only, bounded: after a restart the event_id still protects downstream."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class RetryFilter:
    def __init__(self, capacity: int = 50_000) -> None:
        self._stored: OrderedDict[str, None] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._capacity = capacity

    def seen(self, event_id: str) -> bool:
        return event_id in self._stored

    async def once(self, event_id: str, store: Callable[[], Awaitable[T]]) -> T | None:
        """Run `store` unless this id is stored or being stored; None means 'a retry'.

        If the first attempt fails, a waiting retry fails too and WeCom tries again later."""
        if event_id in self._stored:
            return None
        running = self._in_flight.get(event_id)
        if running is not None:
            await asyncio.shield(running)
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[event_id] = done
        try:
            result = await store()
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._in_flight[event_id]
        self._remember(event_id)
        done.set_result(None)
        return result

    def _remember(self, event_id: str) -> None:
        self._stored[event_id] = None
        if len(self._stored) > self._capacity:
            self._stored.popitem(last=False)
