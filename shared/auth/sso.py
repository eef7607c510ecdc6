"""JWTs from the bank's SSO, verified with PyJWT against the SSO's JWKS (a file or a URL).

Only asymmetric signatures are accepted (RS256, ES256): `alg: none` and the HMAC family are
refused before any key is looked up, so a public key can never be used as an HMAC secret.
`iss`, `aud` and `exp` are required; `exp` and `nbf` are checked with a bounded clock skew.
The role and the employee id come from configurable claims."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from shared.auth.roles import Identity, Role, parse_role

ALGORITHMS = ("RS256", "ES256")
log = logging.getLogger(__name__)


class JwksFile:
    """Keys read once from a JWKS file at start (a changed file needs a restart)."""

    def __init__(self, path: Path) -> None:
        self._keys = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        keys = list(self._keys)
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((k for k in keys if k.key_id == kid), None)


class JwksUrl:
    """Keys fetched from the SSO's JWKS URL, cached (refetched when an unknown kid arrives)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=timeout)

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return None
        try:
            return await asyncio.to_thread(self._client.get_signing_key, kid)
        except jwt.PyJWKClientError as exc:
            log.warning("no SSO signing key for a presented JWT: %s", type(exc).__name__)
            return None


KeySource = JwksFile | JwksUrl


def key_source(where: str) -> KeySource:
    """A URL (https; plain http only on this machine, e.g. a stand-in) or a file path."""
    if where.startswith("https://"):
        return JwksUrl(where)
    if where.startswith("http://"):
        host = urlsplit(where).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("SSO_JWKS must be an https:// URL (http only for localhost)")
        return JwksUrl(where)
    return JwksFile(Path(where))


@dataclass(frozen=True)
class ClaimNames:
    role: str = "role"
    employee_id: str = "employee_id"


class SsoVerifier:
    def __init__(
        self,
        keys: KeySource,
        issuer: str,
        audience: str,
        skew_seconds: float,
        claims: ClaimNames = ClaimNames(),
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._skew = skew_seconds
        self._claims = claims

    async def identify(self, token: str) -> Identity | None:
        """The caller a valid JWT names, or None for anything else (never raises)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            return None
        kid = header.get("kid")
        key = await self._keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._skew,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> Identity | None:
        role = parse_role(claims.get(self._claims.role))
        employee = claims.get(self._claims.employee_id)
        employee_id = employee if isinstance(employee, str) and employee else None
        if role is None or (role is Role.SUPERVISOR and employee_id is None):
            return None
        subject = claims.get("sub")
        name = subject if isinstance(subject, str) and subject else (employee_id or "sso")
        return Identity(name, role, employee_id, via="sso")
