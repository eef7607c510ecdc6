"""Issued API tokens in PostgreSQL (`api_token`, migration 0011): created, listed, revoked, and
looked up by their hash. Revoking keeps the row (the audit log names it)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.auth.roles import Identity, Role
from shared.auth.tokens import NAME, looks_like_token, new_token, token_hash


class TokenError(ValueError):
    """A token cannot be issued or revoked as asked (the message says why)."""


@dataclass(frozen=True)
class IssuedToken:
    name: str
    role: Role
    employee_id: str | None
    created_at: datetime
    revoked_at: datetime | None


def _issued(row: Any) -> IssuedToken:
    return IssuedToken(
        row["name"], Role(row["role"]), row["employee_id"], row["created_at"], row["revoked_at"]
    )


async def create(conn: Any, name: str, role: Role, employee_id: str | None) -> str:
    """Store a new token's hash; returns the token, which is never stored nor shown again."""
    if not NAME.match(name):
        raise TokenError("a token name is 1-100 letters, digits or . _ @ -")
    if role is Role.SUPERVISOR and not employee_id:
        raise TokenError("a supervisor token needs --employee-id (whose subtree it sees)")
    token = new_token()
    inserted = await conn.fetchval(
        "INSERT INTO api_token (name, token_hash, role, employee_id) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name) DO NOTHING RETURNING token_id",
        name,
        token_hash(token),
        role.value,
        employee_id,
    )
    if inserted is None:
        raise TokenError(f"a token named {name!r} exists already (revoke it or pick a name)")
    return token


async def list_tokens(conn: Any) -> list[IssuedToken]:
    rows = await conn.fetch(
        "SELECT name, role, employee_id, created_at, revoked_at FROM api_token ORDER BY name"
    )
    return [_issued(r) for r in rows]


async def revoke(conn: Any, name: str, now: datetime) -> IssuedToken:
    row = await conn.fetchrow(
        "UPDATE api_token SET revoked_at = coalesce(revoked_at, $2) WHERE name = $1 "
        "RETURNING name, role, employee_id, created_at, revoked_at",
        name,
        now,
    )
    if row is None:
        raise TokenError(f"no token named {name!r}")
    return _issued(row)


async def identify(conn: Any, presented: str) -> Identity | None:
    """The identity of a presented token that is issued and not revoked, else None."""
    if not looks_like_token(presented):
        return None
    wanted = token_hash(presented)
    row = await conn.fetchrow(
        "SELECT name, role, employee_id, token_hash FROM api_token "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        wanted,
    )
    if row is None or not hmac.compare_digest(row["token_hash"], wanted):
        return None
    return Identity(row["name"], Role(row["role"]), row["employee_id"], via="token")
