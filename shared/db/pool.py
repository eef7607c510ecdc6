"""The asyncpg pool. Opened in a service's lifespan, never at import time."""

from __future__ import annotations

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


SERVER_SETTINGS = {
    "application_name": "wecom-quota",
    "timezone": "UTC",
    "jit": "off",
    "plan_cache_mode": "force_custom_plan",
    "random_page_cost": "1.1",
}
"""Every connection's session settings. The first two for the same reason: the services'
statements take arrays of keys and time bounds as parameters, and only their values tell
PostgreSQL how much a statement reads.
- Custom plans: asyncpg prepares every statement, and after five runs PostgreSQL may switch to
  a generic plan that cannot see the bounds. For a period's chat traces that plan probes every
  monthly partition of `message` once per relation: 500 ms for 500 employees' month, against
  2.5 ms planned with the values (their relations: 460 ms against 100 ms). Planning each run
  costs a millisecond or less.
- No JIT: the per-relation lookups make the cost estimate cross the JIT threshold, and then
  compiling takes 0.4 s of a 0.6 s read; nothing the services run is long enough to win it
  back.
- Random reads priced as on SSD or in memory (PostgreSQL's default, 4, prices a disk's seek):
  with it, the relations of 200 employees' month (14,000 of 700,000) were read by scanning
  all 700,000 standings and 680,000 contacts and hashing them (330 ms), instead of looking
  each one up by key (115 ms)."""


async def create_pool(
    dsn: str, size: int = 10, settings: dict[str, str] | None = None
) -> asyncpg.Pool:
    """A pool whose connections have SERVER_SETTINGS, and `settings` over them."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        command_timeout=60,
        server_settings={**SERVER_SETTINGS, **(settings or {})},
    )
    assert pool is not None
    return pool


# What handlers receive: a pooled connection or a plain one; both run the same statements.
Connection = asyncpg.Connection | PoolConnectionProxy
