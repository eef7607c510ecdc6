"""Secrets kept in PostgreSQL encrypted (SECURITY.md, "Secrets at rest"): AES-256-GCM from
`cryptography` under a key ring that a secret setting holds.

The setting is `id:key` entries, comma-separated, each key 32 random bytes in base64
(`python -m shared.sealed ID` prints a new entry). The first entry seals; every entry opens,
so a key is rotated by putting a new one first, letting the service re-seal what it keeps
(the notifier does at start), then dropping the old one.

A sealed value is `0x01 | len(id) | id | 12-byte random nonce | ciphertext and tag`. The
associated data names where the value belongs (e.g. `employee_robot:m01`): a ciphertext
copied onto another row does not open there."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import sys
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from shared.settings import optional_secret, require_secret

FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class SealError(Exception):
    """A sealed value that does not open: unknown key id, wrong place, or tampered with. The
    message never holds the value or a key."""


def _decode_key(text: str) -> bytes | None:
    """Base64 (standard or URL-safe, padding optional), strictly: any other character refuses."""
    s = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class KeyRing:
    """(id, key) pairs, the first sealing. Its repr shows the ids, never a key."""

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    def __repr__(self) -> str:
        return f"KeyRing(ids={[k for k, _ in self.keys]})"

    @classmethod
    def parse(cls, name: str, value: SecretStr | None) -> KeyRing:
        """The key ring of setting `name`: refuses a missing or placeholder value
        (shared.settings.require_secret), a malformed entry, a key that is not 32 bytes or is
        one byte repeated (all zeros, say), and a duplicate id; the message names the setting
        and the entry's position, never a key."""
        raw = require_secret(name, value).get_secret_value()
        keys: list[tuple[str, bytes]] = []
        for n, entry in enumerate(raw.split(","), start=1):
            key_id, sep, text = entry.strip().partition(":")
            if not sep or not KEY_ID.match(key_id):
                raise ValueError(f"{name}: entry {n} must be `id:base64key` (id: letters, digits)")
            key = _decode_key(text)
            if key is None or len(key) != KEY_BYTES:
                raise ValueError(f"{name}: the key of {key_id} must be {KEY_BYTES} bytes in base64")
            if len(set(key)) == 1:
                raise ValueError(f"{name}: the key of {key_id} is a placeholder; use random bytes")
            if any(key_id == k for k, _ in keys):
                raise ValueError(f"{name}: key id {key_id} appears twice")
            keys.append((key_id, key))
        return cls(tuple(keys))

    @property
    def current(self) -> str:
        """The id of the key that seals."""
        return self.keys[0][0]

    def _key(self, key_id: str) -> bytes | None:
        return next((k for i, k in self.keys if i == key_id), None)

    def seal(self, plaintext: str, context: str) -> bytes:
        key_id, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
        head = bytes([FORMAT, len(key_id)]) + key_id.encode()
        return head + nonce + body

    def open(self, sealed: bytes, context: str) -> str:
        key_id = sealed_key_id(sealed)
        key = self._key(key_id)
        if key is None:
            raise SealError(f"sealed under key {key_id}, which is not in the key ring")
        start = 2 + len(key_id)
        nonce, body = sealed[start : start + NONCE_BYTES], sealed[start + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, body, context.encode()).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise SealError(f"a value sealed under {key_id} does not open for {context}") from None


def robot_context(employee_id: str) -> str:
    """The associated data of a group robot's sealed URL (`employee_robot`): it opens only on
    its own row. The scorer seals with it as it stores an employee, the notifier opens."""
    return f"employee_robot:{employee_id}"


def sealed_key_id(sealed: bytes) -> str:
    """The id of the key a value was sealed under (SealError when it is not a sealed value)."""
    if len(sealed) < 2 or sealed[0] != FORMAT or len(sealed) < 2 + sealed[1] + NONCE_BYTES + 16:
        raise SealError("not a sealed value")
    return sealed[2 : 2 + sealed[1]].decode("ascii", errors="replace")


def new_entry(key_id: str) -> str:
    """A fresh `id:key` entry (32 bytes from `secrets`, URL-safe base64)."""
    if not KEY_ID.match(key_id):
        raise ValueError("a key id is 1-32 letters, digits, `.`, `_` or `-`")
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")
    return f"{key_id}:{key}"


def main(argv: list[str]) -> int:
    """`python -m shared.sealed ID`: print a new key-ring entry for ID (e.g. the month)."""
    if len(argv) != 1:
        print("usage: python -m shared.sealed KEY_ID", file=sys.stderr)
        return 2
    try:
        print(new_entry(argv[0]))
    except ValueError as exc:
        print(f"shared.sealed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


class RobotKeySettings(BaseSettings):
    """The key ring of the group robots' webhook URLs, read by the scorer (which seals a URL
    from the bank's employee records as it stores it) and the notifier (which opens it only to
    send). List it before the service's own settings base, whose model_config must win."""

    notifier_robot_keys: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt the group robots' webhook URLs at rest (AES-256-GCM): "
        "`id:key` entries, comma-separated, each key 32 random bytes in base64 (`python -m "
        "shared.sealed ID` prints one). The first encrypts, every one decrypts: rotate by "
        "putting a new key first (the notifier re-encrypts at start), then dropping the old. "
        "The same value for the scorer, which encrypts a URL from the employee records as it "
        "stores it (unset there: the URL waits in plain, where only the services read it, "
        "until the notifier's next round), and the notifier, which needs it when the routing "
        "file uses the robot channel (else it refuses to start).",
    )

    @field_validator("notifier_robot_keys")
    @classmethod
    def _real_robot_keys(cls, value: SecretStr | None) -> SecretStr | None:
        kept = optional_secret("NOTIFIER_ROBOT_KEYS", value)
        if kept is not None:
            KeyRing.parse("NOTIFIER_ROBOT_KEYS", kept)  # a malformed key stops the service here
        return kept

    def robot_keys(self) -> KeyRing | None:
        if self.notifier_robot_keys is None:
            return None
        return KeyRing.parse("NOTIFIER_ROBOT_KEYS", self.notifier_robot_keys)
