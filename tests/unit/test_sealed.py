"""The key ring that seals secrets kept in PostgreSQL (shared/sealed.py): AES-256-GCM round
trip, bound to its place, tamper-evident, rotation by key id, and a setting that refuses a
missing, placeholder or malformed key without echoing it."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from shared.sealed import KeyRing, SealError, main, new_entry, sealed_key_id
from shared.settings import PLACEHOLDER_SECRETS

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def ring(*entries: str) -> KeyRing:
    return KeyRing.parse("NOTIFIER_ROBOT_KEYS", SecretStr(",".join(entries)))


def test_round_trip_without_the_plaintext_in_the_sealed_bytes() -> None:
    keys = ring(new_entry("k1"))
    sealed = keys.seal(URL, "employee_robot:m01")
    assert KEY.encode() not in sealed and b"qyapi" not in sealed
    assert sealed_key_id(sealed) == "k1" == keys.current
    assert keys.open(sealed, "employee_robot:m01") == URL
    assert keys.seal(URL, "employee_robot:m01") != sealed  # a fresh nonce each time


def test_a_sealed_value_opens_only_where_it_belongs_and_untouched() -> None:
    keys = ring(new_entry("k1"))
    sealed = keys.seal(URL, "employee_robot:m01")
    with pytest.raises(SealError, match="does not open"):
        keys.open(sealed, "employee_robot:m02")  # copied onto another row
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        keys.open(flipped, "employee_robot:m01")
    with pytest.raises(SealError, match="not a sealed value"):
        keys.open(b"\x01\x02k1", "employee_robot:m01")
    other = ring(new_entry("k1"))  # the same id, another key
    with pytest.raises(SealError):
        other.open(sealed, "employee_robot:m01")


def test_rotation_new_key_first_old_still_opens() -> None:
    old = new_entry("2026-01")
    new = new_entry("2026-07")
    sealed_old = ring(old).seal(URL, "c")
    rotated = ring(new, old)
    assert rotated.current == "2026-07"
    assert rotated.open(sealed_old, "c") == URL
    resealed = rotated.seal(rotated.open(sealed_old, "c"), "c")
    assert sealed_key_id(resealed) == "2026-07"
    after = ring(new)  # the old key dropped once everything is re-sealed
    assert after.open(resealed, "c") == URL
    with pytest.raises(SealError, match=r"2026-01.*not in the key ring"):
        after.open(sealed_old, "c")


def test_standard_and_url_safe_base64_with_or_without_padding() -> None:
    raw = bytes(range(32))
    for text in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        assert ring(f"a:{text}").keys[0][1] == raw


@pytest.mark.parametrize("placeholder", [*sorted(PLACEHOLDER_SECRETS), "  Changeme "])
def test_a_placeholder_setting_is_refused(placeholder: str) -> None:
    with pytest.raises(ValueError, match="NOTIFIER_ROBOT_KEYS is missing or a placeholder"):
        KeyRing.parse("NOTIFIER_ROBOT_KEYS", SecretStr(placeholder))
    with pytest.raises(ValueError, match="NOTIFIER_ROBOT_KEYS"):
        KeyRing.parse("NOTIFIER_ROBOT_KEYS", None)


SHORT = base64.b64encode(b"sixteen-byte-key").decode()
ZEROS = base64.b64encode(bytes(32)).decode()
SECRETISH = "notBase64!!" + "x" * 40


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"k1{SHORT}", "must be `id:base64key`"),
        (f":{SHORT}", "must be `id:base64key`"),
        (f"k 1:{SHORT}", "must be `id:base64key`"),
        (f"k1:{SHORT}", "must be 32 bytes"),
        (f"k1:{SECRETISH}", "must be 32 bytes"),
        (f"k1:{ZEROS}", "placeholder"),
        (f"k1:{base64.b64encode(b'A' * 32).decode()}", "placeholder"),
    ],
)
def test_a_malformed_key_is_refused_without_being_echoed(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        ring(value)
    assert value.split(":")[-1] not in str(refused.value)


def test_a_duplicate_id_is_refused() -> None:
    with pytest.raises(ValueError, match="k1 appears twice"):
        ring(new_entry("k1"), new_entry("k1"))


def test_the_repr_shows_ids_never_keys() -> None:
    entry = new_entry("k1")
    keys = ring(entry)
    assert "k1" in repr(keys) and entry.split(":")[1] not in repr(keys)
    assert str(keys.keys[0][1]) not in repr(keys)


def test_new_entry_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["2026-07"]) == 0
    printed = capsys.readouterr().out.strip()
    assert ring(printed).current == "2026-07"
    assert main(["bad id"]) == 2
    assert main([]) == 2
