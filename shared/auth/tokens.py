"""API tokens the system issues: random, shown once, kept only as a SHA-256 hash (a token has
256 bits of entropy, so a fast hash is enough: nothing to brute-force). Pure, no I/O."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "wq_"
_SHAPE = re.compile(r"^wq_[A-Za-z0-9_-]{40,60}$")
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(presented: str) -> bool:
    """A JWT has dots; an issued token has our prefix and shape."""
    return _SHAPE.match(presented) is not None
