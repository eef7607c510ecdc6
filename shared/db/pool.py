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


async def create_pool(dsn: str, size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        command_timeout=60,
        server_settings={"application_name": "wecom-quota", "timezone": "UTC"},
    )
    assert pool is not None
    return pool


# What handlers receive: a pooled connection or a plain one; both run the same statements.
Connection = asyncpg.Connection | PoolConnectionProxy
