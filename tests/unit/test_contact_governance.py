"""The pure pieces of contact data governance (SECURITY.md, "Personal data"): the keyed hash, the
retention cutoff on any day (whole months, across a year's end), the blanking of contact ids
quoted as evidence, the whole-word match of an id in a spooled record, and the spool rewritten
without a contact's records (order kept, nothing else lost, orphans of a crash adopted)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import QUARANTINE_FILE, Spool, rewrite_without
from services.ingestor.erasure import mentions
from shared.governance import EXTERNAL_USERID, blank_examples, contact_hmac, retention_cutoff
from tests.clocks import AS_OF, SHANGHAI, shanghai


def test_the_keyed_hash_is_hmac_sha256_and_depends_on_the_key() -> None:
    key = SecretStr("k" * 32)
    expected = hmac.new(b"k" * 32, b"wmABC", hashlib.sha256).hexdigest()
    assert contact_hmac(key, "wmABC") == expected
    assert contact_hmac(SecretStr("j" * 32), "wmABC") != expected
    assert "wmABC" not in expected


@pytest.mark.parametrize("now", AS_OF)
def test_the_cutoff_is_the_start_of_a_month_months_back(now: datetime) -> None:
    cutoff = retention_cutoff(now, 24, SHANGHAI)
    local = now.astimezone(SHANGHAI)
    assert cutoff.day == 1 and (cutoff.hour, cutoff.minute) == (0, 0)
    assert (local.year - cutoff.year) * 12 + local.month - cutoff.month == 24
    assert cutoff <= now


@pytest.mark.parametrize(
    ("now", "months", "cutoff"),
    [
        (shanghai(2027, 1, 1, 0, 30), 24, shanghai(2025, 1, 1, 0)),
        (shanghai(2026, 12, 31, 23, 30), 24, shanghai(2024, 12, 1, 0)),
        (shanghai(2026, 3, 15, 10), 3, shanghai(2025, 12, 1, 0)),
        (shanghai(2026, 3, 15, 10), 1, shanghai(2026, 2, 1, 0)),
    ],
)
def test_the_cutoff_by_the_business_calendar(now: datetime, months: int, cutoff: datetime) -> None:
    assert retention_cutoff(now, months, SHANGHAI) == cutoff


def test_examples_are_blanked_and_the_figures_beside_them_stay() -> None:
    reasons: list[dict[str, Any]] = [
        {
            "code": "SHARED_CONTACTS",
            "contribution": 12.5,
            "evidence": {"contacts": 2, "examples": ["wm1", "wm2"], "in_favour": {"adds": 9}},
        },
        {"code": "MUTUAL_ADD_RING", "evidence": {"dense_block": {"examples": ["wm3"]}}},
    ]
    blanked = blank_examples(reasons)
    assert blanked[0]["evidence"] == {"contacts": 2, "examples": [], "in_favour": {"adds": 9}}
    assert blanked[0]["contribution"] == 12.5
    assert blanked[1]["evidence"]["dense_block"]["examples"] == []
    assert reasons[0]["evidence"]["examples"] == ["wm1", "wm2"]  # a copy, not in place


@pytest.mark.parametrize("typed", ["wmAbc-123_x", "wo" + "a" * 126])
def test_an_operator_types_an_external_userid(typed: str) -> None:
    assert EXTERNAL_USERID.match(typed)


@pytest.mark.parametrize("typed", ["", " wmA", "wmA b", "wm'A", "wm%", "w" * 129, "wmA\n"])
def test_what_is_not_an_external_userid(typed: str) -> None:
    assert not EXTERNAL_USERID.match(typed)


def test_an_id_matches_as_a_whole_word_only() -> None:
    pattern = mentions("wmX1")
    assert pattern.search(b'{"ExternalUserID":"wmX1"}')
    assert pattern.search(b"<ExternalUserID><![CDATA[wmX1]]></ExternalUserID>")
    assert not pattern.search(b'{"external_userid":"wmX12"}')
    assert not pattern.search(b'{"external_userid":"awmX1"}')
    assert not pattern.search(b'{"external_userid":"wmX1-2"}')


def spooled(directory: Path) -> list[bytes]:
    """Every record waiting in the spool, in order (read as the replay reads: it is consumed)."""
    spool = Spool(directory)
    found: list[bytes] = []
    try:
        while True:
            items, consumed = spool.oldest(1000)
            if not consumed:
                return found
            found += [i.value for i in items]
            spool.cut(consumed)
    finally:
        spool.close()


def test_the_spool_is_rewritten_without_a_contacts_records(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    values = [f'{{"n":{n},"external_userid":"{c}"}}'.encode() for n, c in enumerate("ABABCA")]
    spool = Spool(directory, segment_bytes=150)  # several segments
    spool.append([Outgoing("t", "k", v) for v in values[:4]])
    spool.close()
    # a process that ended with records in its own folder (a crash): adopted, then filtered
    orphan = Spool(directory / "pid-999999")
    orphan.append([Outgoing("t", "k", v) for v in values[4:]])
    orphan.close()
    (directory / QUARANTINE_FILE).write_bytes(b'{"external_userid":"A"\n{"x":"B"}\n')

    pattern = mentions("A")
    dropped, quarantined = rewrite_without(directory, lambda line: bool(pattern.search(line)))

    assert (dropped, quarantined) == (3, 1)
    assert spooled(directory) == [values[1], values[3], values[4]]  # the others, in order
    assert (directory / QUARANTINE_FILE).read_bytes() == b'{"x":"B"}\n'
    assert not [p for p in directory.iterdir() if p.name.startswith("pid-erase")]
    assert not any(b'"A"' in p.read_bytes() for p in directory.rglob("*.spool"))


def test_a_spool_owned_by_a_running_ingestor_is_not_touched(tmp_path: Path) -> None:
    running = Spool(tmp_path)
    running.append([Outgoing("t", "k", b'{"external_userid":"A"}')])
    try:
        with pytest.raises(OSError, match="owned by another running ingestor"):
            rewrite_without(tmp_path, lambda line: True)
    finally:
        running.close()
    assert spooled(tmp_path) == [b'{"external_userid":"A"}']
