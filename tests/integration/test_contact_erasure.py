"""`wecom-quota erase --external-userid X` (SECURITY.md, "Personal data"), on real Kafka and
PostgreSQL, the command run as an operator runs it (a process, with the services' environment)
while the scorer and the notifier run:

- every table of the schema is walked, every column of every row read as text: the id is in
  none of them afterwards (it was in a dozen), the contact kept beside it still is;
- the ingestor's spool, reconciliation state and lookup ledger (files on disk) hold no byte of
  it, and keep the other contact's records;
- the closed period's figures (score rows, counters, outcomes) are what they were; the open
  period stops counting the erased contact's add; the verifier finds no difference;
- the erasure list holds a keyed hash, and the audit row holds that hash, never the id;
- a replay of both source topics from their start (the scorer's offsets reset) and of the
  breaches topic brings none of it back: the scorer counts the records `erased`;
- with an ingestor running on the spool, the command refuses and erases nothing."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import Spool
from services.ingestor.erasure import mentions
from services.ingestor.lookups.ledger import Folded, LookupLedger, Want, ledger_path
from services.ingestor.reconcile_store import ReconcileStore
from services.scorer.app import create_app as scorer_app
from services.scorer.pipeline import RECORDS
from services.scorer.verify import Skipped, scorer_of, verify_all
from shared.clock import ManualClock, offset_to
from shared.schemas import BreachEvent
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.clocks import shanghai
from tests.infra import ROOT, Infra, unique
from tests.integration.conftest import scorer_settings
from tests.integration.test_notifier_delivery import make_settings, notifier, publish
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration

KEY = "erasure-key-" + "k" * 40  # ERASURE_HMAC_KEY of this test's services and command
X = "wmEraseMe" + "0123456789"  # the contact erased
Y = "wmKeepMe" + "0123456789"  # followed by the same employees, kept
NOW = shanghai(2026, 12, 15, 10)  # November closed, December open


def records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(bank records, contact events): e1 and e2 add X in November, e3 in December; e1 adds Y
    in November and e3 in December. X writes to e1; the bank links X; X's unionid is HR's record
    of someone's own WeChat (so the scores quote X as evidence)."""
    org = [
        {
            **f.employee("lead1", supervisor_id=None, role="team_lead"),
            "occurred_at": "2026-10-01T09:00:00+08:00",
        },
        *(
            {**f.employee(e, supervisor_id="lead1"), "occurred_at": "2026-10-01T09:00:00+08:00"}
            for e in ("e1", "e2", "e3")
        ),
        f.target("team", "t1", "2026-11", 2),
        f.target("team", "t1", "2026-12", 2),
    ]
    adds = [
        f.add("e1", X, f.at("2026-11-10")),
        f.add("e2", X, f.at("2026-11-12")),
        f.add("e1", Y, f.at("2026-11-11")),
        f.add("e3", X, f.at("2026-12-02")),
        f.add("e3", Y, f.at("2026-12-03")),
    ]
    facts = [
        {**f.profile(X, unionid="unErase0123"), "occurred_at": "2026-11-10T11:00:00+08:00"},
        {**f.profile(Y), "occurred_at": "2026-11-11T11:00:00+08:00"},
        {
            "type": "customer_link",
            "external_userid": X,
            "is_customer": True,
            "assigned_employee_id": "e1",
            "occurred_at": "2026-11-10T12:00:00+08:00",
        },
        {
            "type": "message",
            "message_id": "msg-x-1",
            "employee_id": "e1",
            "external_userid": X,
            "direction": "from_customer",
            "kind": "one_to_one",
            "sent_at": "2026-11-10T15:00:00+08:00",
        },
        f.staff_account("e9", unionid="unErase0123"),
    ]
    return org + facts, adds


async def query(infra: Infra, database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def consumed(infra: Infra, database: str, group: str) -> int:
    rows = await query(
        infra,
        database,
        "SELECT coalesce(sum(next_offset), 0)::int AS n FROM consumer_offset "
        "WHERE consumer_group = $1",
        group,
    )
    return int(rows[0]["n"])


async def tables_holding(infra: Infra, database: str, text: str) -> dict[str, int]:
    """Every table of the schema (partitions through their parent), every row read whole as
    text: how many rows of each hold `text`."""
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        tables = await conn.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                ORDER BY 1"""
        )
        assert len(tables) > 35
        found = {}
        for t in tables:
            n = await conn.fetchval(
                f'SELECT count(*) FROM "{t["relname"]}" r WHERE strpos(r::text, $1) > 0', text
            )
            if n:
                found[t["relname"]] = n
        return found
    finally:
        await conn.close()


def files_holding(folder: Path, text: str) -> list[str]:
    """The files under `folder` holding `text` as a whole id (not the start of a longer one)."""
    pattern = mentions(text)
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and pattern.search(p.read_bytes())
    )


def ingestor_state(root: Path, topics: Topics) -> dict[str, Path]:
    """An ingestor's stopped state: records for X and Y spooled while Kafka was away (one a
    raw callback's XML), a quarantined line, the reconciliation's relations, the ledger's."""
    dirs = {name: root / name for name in ("spool", "reconcile", "lookups")}
    spool = Spool(dirs["spool"])
    events = topics.contact_events
    spool.append(
        [
            Outgoing(events, "e1", orjson_line(f.add("e1", X, f.at("2026-12-10")))),
            Outgoing(events, "e1", orjson_line(f.add("e1", Y, f.at("2026-12-10")))),
            Outgoing(
                topics.raw_callbacks,
                "raw",
                orjson_line(
                    {"xml": f"<xml><ExternalUserID><![CDATA[{X}]]></ExternalUserID></xml>"}
                ),
            ),
            Outgoing(events, "e2", orjson_line(f.add("e2", X + "Z", f.at("2026-12-10")))),
        ]
    )
    spool.close()
    (dirs["spool"] / "unreadable.ndjson").write_bytes(f"not a record {X}\nnot one {Y}\n".encode())
    store = ReconcileStore(dirs["reconcile"])
    store.save_fold(events, {("e1", X): (1, None), ("e1", Y): (1, None)}, {0: 5})
    store.close()
    ledger = LookupLedger(ledger_path(dirs["lookups"], events))
    ledger.fold(events, [Folded(0, 0, Want(X, "e1")), Folded(0, 1, Want(Y, "e1"))], 1.0)
    ledger.close()
    return dirs


def orjson_line(value: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(value)


def erase_command(
    infra: Infra, database: str, dirs: dict[str, Path], *args: str, key: str = KEY
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": infra.app_dsn(database),
        "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
        "ERASURE_HMAC_KEY": key,
        "SPOOL_DIR": str(dirs["spool"]),
        "RECONCILE_STATE_DIR": str(dirs["reconcile"]),
        "LOOKUP_STATE_DIR": str(dirs["lookups"]),
        "CLOCK_OFFSET_SECONDS": str(offset_to(NOW)),
    }
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "erase", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def anomaly(period: str, examples: list[str]) -> BreachEvent:
    return f.anomaly_breach(
        period, datetime(2026, 12, 1, 2, tzinfo=UTC), "SHARED_CONTACTS", 30.0, examples
    )


FIGURES = """
SELECT s.employee_id, s.period, s.target, s.gross_adds, s.first_adds, s.new_to_bank,
       s.valid_adds, s.pending_adds, s.removed_adds, s.attainment, s.status, s.quality_score,
       s.anomaly_score, s.flagged, o.valid_adds AS outcome_adds, o.status AS outcome,
       o.revision, q.valid_adds AS counted_valid, q.gross_adds AS counted_gross
  FROM employee_period_score s
  LEFT JOIN period_outcome o USING (period, employee_id)
  LEFT JOIN quota_counter q USING (period, employee_id)
 WHERE s.period = $1 ORDER BY s.employee_id
"""


@asynccontextmanager
async def scorer_on(
    infra: Infra, topics: Topics, database: str, group: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = scorer_settings(infra, topics, database, erasure_hmac_key=SecretStr(KEY)).model_copy(
        update={"scorer_group_id": group}
    )
    async with running(scorer_app(settings, clock=ManualClock(NOW))) as client:
        yield client


async def test_erase_removes_the_contact_everywhere_and_a_replay_does_not_bring_it_back(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    bank, events = records()
    await produce(infra, topics.bank_records, bank, key="bank")
    await produce(infra, topics.contact_events, events, key="events")
    group = unique("scorer")
    notifier_settings = make_settings(
        infra, topics, database, tmp_path, {}, erasure_hmac_key=SecretStr(KEY)
    )
    dirs = ingestor_state(tmp_path / "ingestor", topics)
    async with (
        scorer_on(infra, topics, database, group) as scorer,
        notifier(notifier_settings, clock=ManualClock(NOW)),
    ):
        await eventually(lambda: consumed(infra, database, group), lambda n: n == 16)
        close = await scorer.post("/v1/periods/2026-11/close", params={"force": "true"})
        assert close.status_code == 200, close.text
        await publish(infra, topics.breaches, [anomaly("2026-11", [X, Y])])

        async def december() -> dict[str, Any]:
            body = (await scorer.get("/v1/scores", params={"period": "2026-12"})).json()
            return {e["employee_id"]: e for e in body["employees"]}

        # X is HR's record of someone's own WeChat (by unionid): never valid, quoted as evidence
        opened = await eventually(december, lambda s: s.get("e3", {}).get("anomaly_score"))
        assert (opened["e3"]["gross_adds"], opened["e3"]["valid_adds"]) == (2, 1)
        assert X in str(opened["e3"]["reasons"])
        await eventually(
            lambda: query(
                infra, database, "SELECT details FROM alert WHERE alertname = 'AnomalyFlagged'"
            ),
            lambda r: len(r) == 1,
        )
        before = await tables_holding(infra, database, X)
        assert {
            "alert",
            "contact",
            "contact_event",
            "employee_contact",
            "message",
            "relation_standing",
        } <= set(before)
        closed_before = [tuple(r) for r in await query(infra, database, FIGURES, "2026-11")]

        # an ingestor running on the spool: refused, nothing erased
        running_ingestor = Spool(dirs["spool"])
        try:
            refused = erase_command(infra, database, dirs, "--external-userid", X)
        finally:
            running_ingestor.close()
        assert refused.returncode == 2, refused.stderr
        assert "an ingestor is running" in refused.stderr and "nothing was erased" in refused.stderr
        assert await tables_holding(infra, database, X) == before

        done = erase_command(infra, database, dirs, "--external-userid", X)
        assert done.returncode == 0, done.stderr
        assert "closed periods kept as closed: 2026-11" in done.stdout
        assert "2026-12" in done.stdout.split("open periods recounted without it:")[1]

        # nowhere in the database, the kept contact still there
        assert await tables_holding(infra, database, X) == {}
        assert "employee_contact" in await tables_holding(infra, database, Y)
        # nowhere on the ingestor's disk; the rest of its state kept
        for folder in dirs.values():
            assert files_holding(folder, X) == [], folder
        spool = Spool(dirs["spool"])
        left, _ = spool.oldest(100)
        spool.close()
        assert sorted(o.key for o in left) == ["e1", "e2"]  # Y's event, and X…Z's: not X's
        assert b"not one" in (dirs["spool"] / "unreadable.ndjson").read_bytes()

        # the closed period's figures as they were; the open one counts e3's X no more
        assert [tuple(r) for r in await query(infra, database, FIGURES, "2026-11")] == closed_before
        erased = (await december())["e3"]
        assert (erased["gross_adds"], erased["first_adds"], erased["valid_adds"]) == (1, 1, 1)
        conn = await asyncpg.connect(infra.app_dsn(database))
        try:
            skipped: list[Skipped] = []
            settings = scorer_settings(
                infra,
                topics,
                database,
                erasure_hmac_key=SecretStr(KEY),
                clock_offset_seconds=offset_to(NOW),
            )
            assert await verify_all(conn, scorer_of(settings), skipped) == []
            assert skipped == []
        finally:
            await conn.close()

        # listed and audited by the keyed hash, never the id
        hashed = hmac.new(KEY.encode(), X.encode(), hashlib.sha256).hexdigest()
        by_unionid = hmac.new(KEY.encode(), b"unErase0123", hashlib.sha256).hexdigest()
        listed = await query(infra, database, "SELECT contact_hmac FROM erased_contact")
        assert sorted(r["contact_hmac"] for r in listed) == sorted([hashed, by_unionid])
        audit = await query(
            infra,
            database,
            "SELECT target, after::text AS after FROM audit_log WHERE action = 'contact.erase'",
        )
        assert [r["target"] for r in audit] == [f"hmac-sha256:{hashed}"]
        assert (
            '"contact_event": 3' in audit[0]["after"] and '"spool_records": 2' in audit[0]["after"]
        )

        # a breach replayed, and one still in Kafka quoting it: recorded without the id
        await publish(infra, topics.breaches, [anomaly("2026-11", [X, Y]), anomaly("2026-12", [X])])
        alerts = await eventually(
            lambda: query(
                infra,
                database,
                "SELECT period, details::text AS d FROM alert WHERE alertname = 'AnomalyFlagged'",
            ),
            lambda r: len(r) == 2,
        )
        assert all(X not in r["d"] and "(erased)" in r["d"] for r in alerts)
        assert Y in next(r["d"] for r in alerts if r["period"] == "2026-11")

    # a replay of both source topics from their start: none of it comes back
    erased_before = RECORDS.labels("erased")._value.get()
    await query(
        infra,
        database,
        "UPDATE consumer_offset SET next_offset = 0 WHERE consumer_group = $1",
        group,
    )
    async with scorer_on(infra, topics, database, group):
        await eventually(lambda: consumed(infra, database, group), lambda n: n == 16)
    # X's three adds, its profile, link and message, and HR's record of X's unionid
    assert RECORDS.labels("erased")._value.get() - erased_before == 7
    assert await tables_holding(infra, database, "unErase0123") == {}
    assert await tables_holding(infra, database, X) == {}
    assert [tuple(r) for r in await query(infra, database, FIGURES, "2026-11")] == closed_before

    again = erase_command(infra, database, dirs, "--external-userid", X)
    assert again.returncode == 0, again.stderr
    assert "already listed" in again.stdout
