"""The review loop's API on real Kafka and PostgreSQL (docs/console.md): a flagged month opens a
case with its evidence; nobody decides a case about themselves; a supervisor reads only their
subtree's cases; a decision is audited and a dismissal publishes a resolved `AnomalyFlagged`;
the same period opens a new case only once its score rose by the margin; confirmed cases export
as CSV; targets set by PUT or a CSV import are published as `/v1/events` would, applied by the
scorer (audited, newest wins), and shown as each employee's effective target; a bad CSV line is
named and nothing is applied."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.scorer.app import create_app
from services.scorer.review.cases import FIGURES, Cases, ReviewRules
from shared.auth import Role
from shared.settings import Topics
from tests import factories as f
from tests.apps import bearer, eventually, issue_token, running
from tests.infra import ROOT, Infra
from tests.integration.conftest import scorer_settings
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration
MONTH = "2026-10"
FAST = {"day": 0.2, "week": 0.2, "month": 0.2, "quarter": 0.2}


def org() -> list[dict[str, Any]]:
    early = "2026-08-01T09:00:00+08:00"
    people = [
        ("boss", None),
        ("lead1", "boss"),
        ("lead2", "boss"),
        ("m1", "lead1"),
        ("m2", "lead2"),
    ]
    return [
        {
            **f.employee(e, team_id="t1" if e in ("lead1", "m1") else "t2", supervisor_id=s),
            "occurred_at": early,
        }
        for e, s in people
    ]


def peer_adds(employee: str, days: range, tag: str = "") -> list[dict[str, Any]]:
    """Adds of a peer bank's staff: PEER_INSTITUTION, 12 points each (4 cross 40)."""
    return [f.add(employee, f"wp-{employee}{tag}-{d}", f.at(f"{MONTH}-{d:02d}")) for d in days]


def peer_profiles(adds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f.profile(a["ExternalUserID"], contact_type=2, corp_name="某某银行") for a in adds]


async def test_cases_decisions_export_and_targets(
    infra: Infra, topics: Topics, database: str
) -> None:
    settings = scorer_settings(
        infra,
        topics,
        database,
        refresh_settle_seconds=FAST,
        review_supervisors_decide=True,
        review_reopen_margin=10.0,
    )
    first = peer_adds("m1", range(5, 9)) + peer_adds("lead1", range(5, 9))
    plain = [f.add("m2", f"wm-m2-{d}", f.at(f"{MONTH}-{d:02d}")) for d in (5, 6)]
    await produce(infra, topics.bank_records, org(), key="org")
    await produce(infra, topics.bank_records, peer_profiles(first) + f.profiles_for(plain), "p")
    await produce(infra, topics.contact_events, first + plain, key="e")
    dsn = infra.app_dsn(database)
    owner = await asyncpg.connect(infra.owner_dsn(database))
    async with running(create_app(settings)) as admin:
        risk = bearer(await issue_token(dsn, Role.RISK))
        risk_m1 = bearer(await issue_token(dsn, Role.RISK, "m1"))  # a reviewer who is m1
        viewer = bearer(await issue_token(dsn, Role.VIEWER))
        lead1 = bearer(await issue_token(dsn, Role.SUPERVISOR, "lead1"))
        lead2 = bearer(await issue_token(dsn, Role.SUPERVISOR, "lead2"))

        async def cases(**params: str) -> list[dict[str, Any]]:
            got = await admin.get("/v1/cases", params=params, headers=risk)
            assert got.status_code == 200, got.text
            return list(got.json()["cases"])

        opened = await eventually(
            lambda: cases(period=MONTH), lambda c: {x["employee_id"] for x in c} >= {"m1", "lead1"}
        )
        assert all(c["period"] == MONTH for c in opened)
        m1 = next(c for c in opened if c["employee_id"] == "m1")
        own = next(c for c in opened if c["employee_id"] == "lead1")
        assert m1["status"] == "open" and m1["anomaly_score"] >= 40
        assert "PEER_INSTITUTION" in m1["signals"]
        assert m1["reasons"][0]["evidence"]["contacts"] == 4  # the snapshot of the row's evidence
        assert m1["team_id"] == "t1" and m1["supervisor_id"] == "lead1"
        assert "m2" not in {c["employee_id"] for c in await cases()}  # nothing flagged, no case
        assert [c["case_id"] for c in await cases(signal="PEER_INSTITUTION", team_id="t1")] == [
            c["case_id"] for c in opened if c["team_id"] == "t1"
        ]
        assert await cases(signal="QUICK_DELETE") == []
        assert (await admin.get("/v1/cases?status=bogus", headers=risk)).status_code == 400

        url = f"/v1/cases/{m1['case_id']}"
        assert (await admin.get(url, headers=viewer)).status_code == 403
        assert (await admin.get(url, headers=lead2)).status_code == 403  # not their subtree
        seen = await admin.get(url, headers=lead1)
        assert seen.status_code == 200 and seen.json()["employee_id"] == "m1"
        assert {
            c["employee_id"] for c in (await admin.get("/v1/cases", headers=lead2)).json()["cases"]
        } <= {"lead2", "m2"}
        # the quarter's flag joins the month's case instead of opening one (so may the week's:
        # in whichever order the refresh gets to them)
        await eventually(
            lambda: admin.get(url, headers=risk),
            lambda r: "2026-Q4" in {x["period"] for x in r.json()["linked"]},
        )
        assert await cases(period="2026-Q4") == []

        # nobody decides a case about themselves: a supervisor theirs, a reviewer who is m1
        decide = f"/v1/cases/{own['case_id']}/decision"
        body = {"decision": "dismiss", "reason": "mine"}
        refused = await admin.post(decide, json=body, headers=lead1)
        assert refused.status_code == 403 and "themselves" in refused.json()["error"]
        refused = await admin.post(f"{url}/decision", json=body, headers=risk_m1)
        assert refused.status_code == 403 and "themselves" in refused.json()["error"]
        bad = await admin.post(f"{url}/decision", json={"decision": "dismiss"}, headers=risk)
        assert bad.status_code == 400
        assert (await admin.post(f"{url}/decision", json=body, headers=lead2)).status_code == 403

        dismissed = await admin.post(
            f"{url}/decision",
            json={"decision": "dismiss", "reason": "同行客户是合规的代发业务 payroll partners"},
            headers={**risk, "x-request-id": "req-dismiss-1"},
        )
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["status"] == "dismissed"
        again = await admin.post(f"{url}/decision", json=body, headers=risk)
        assert again.status_code == 409
        row = await owner.fetchrow(
            "SELECT actor, role, action, target, before, after FROM audit_log "
            "WHERE request_id = 'req-dismiss-1'"
        )
        assert row is not None
        assert (row["action"], row["target"], row["role"]) == (
            "case.dismiss",
            f"case:{m1['case_id']}",
            "risk",
        )
        assert orjson.loads(row["after"])["reason"].startswith("同行客户")
        assert orjson.loads(row["before"]) == {"status": "open"}

        # the resolved breach, for the month and the quarter linked to it
        def resolved(values: list[Any]) -> list[dict[str, Any]]:
            breaches = values
            return [
                b
                for b in breaches
                if b["status"] == "resolved"
                and b["employee_id"] == "m1"
                and b["alertname"] == "AnomalyFlagged"
            ]

        published = await eventually(
            lambda: read_topic(infra, topics.breaches, 0, 2000), lambda v: len(resolved(v)) >= 2
        )
        assert sorted(b["period"] for b in resolved(published)) == [MONTH, "2026-Q4"]

        # not reopened while the score stays (a plain add recomputes it), then reopened once it
        # rises by the margin (a fifth peer: +12)
        more = [f.add("m1", "wm-m1-plain", f.at(f"{MONTH}-12"))]
        await produce(infra, topics.bank_records, f.profiles_for(more), key="p2")
        await produce(infra, topics.contact_events, more, key="e2")
        await asyncio.sleep(4)
        assert [c["status"] for c in await cases(employee_id="m1", period=MONTH)] == ["dismissed"]
        fifth = peer_adds("m1", range(13, 14), tag="x")
        await produce(infra, topics.bank_records, peer_profiles(fifth), key="p3")
        await produce(infra, topics.contact_events, fifth, key="e3")
        reopened = await eventually(
            lambda: cases(employee_id="m1", period=MONTH), lambda c: len(c) == 2, timeout=60
        )
        assert reopened[0]["status"] == "open" and reopened[0]["reopened_from"] == m1["case_id"]
        assert reopened[0]["anomaly_score"] >= m1["anomaly_score"] + 10

        confirmed = await admin.post(
            f"/v1/cases/{reopened[0]['case_id']}/decision",
            json={"decision": "confirm", "reason": "=HYPERLINK(bad) adds from a peer bank"},
            headers=risk,
        )
        assert confirmed.status_code == 200, confirmed.text
        exported = await admin.get("/v1/cases/export.csv", params={"period": MONTH}, headers=risk)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert [(r["employee_id"], r["case_id"]) for r in lines] == [
            ("m1", str(reopened[0]["case_id"]))
        ]
        assert lines[0]["decision_reason"].startswith("'=")  # no formula for the spreadsheet
        assert "PEER_INSTITUTION" in lines[0]["signals"]
        assert (await admin.get("/v1/cases/export.csv", headers=lead1)).status_code == 403
        history = (await admin.get(f"/v1/cases/{reopened[0]['case_id']}", headers=risk)).json()
        assert [d["decision"] for d in history["decisions"]] == ["confirm", "dismiss"]
    await owner.close()


async def test_targets_put_and_import_are_published_and_applied(
    infra: Infra, topics: Topics, database: str
) -> None:
    settings = scorer_settings(infra, topics, database, refresh_settle_seconds=FAST)
    await produce(infra, topics.bank_records, org(), key="org")
    dsn = infra.app_dsn(database)
    owner = await asyncpg.connect(infra.owner_dsn(database))
    async with running(create_app(settings)) as admin:
        risk = bearer(await issue_token(dsn, Role.RISK))

        async def effective() -> dict[str, Any]:
            got = await admin.get("/v1/targets", params={"period": MONTH})
            assert got.status_code == 200, got.text
            return {e["employee_id"]: e for e in got.json()["effective"]}

        await eventually(effective, lambda e: "m1" in e)
        assert (await admin.get("/v1/targets", headers=risk)).status_code == 403
        assert (
            await admin.put("/v1/targets", json={"scope": "team"}, headers=risk)
        ).status_code == 403

        put = await admin.put(
            "/v1/targets",
            json={"scope": "team", "scope_id": "t1", "period": MONTH, "value": 30},
            headers={"x-request-id": "req-put-1"},
        )
        assert put.status_code == 202, put.text
        shown = await eventually(effective, lambda e: e["m1"]["target"] == 30)
        assert shown["m1"]["from"] == {"scope": "team", "scope_id": "t1"}
        assert shown["m2"]["target"] is None
        # the record on the topic is a /v1/events target naming the caller
        records = await read_topic(infra, topics.bank_records, 0, 2000)
        sent = [r for r in records if r.get("type") == "target"]
        assert sent and sent[0]["submitted_by"]["role"] == "admin"
        audit = await eventually(
            lambda: owner.fetch(
                "SELECT action, actor, role FROM audit_log WHERE action LIKE 'target.%' "
                "ORDER BY audit_id"
            ),
            lambda rows: {r["action"] for r in rows} == {"target.submit", "target.set"},
        )
        assert {r["role"] for r in audit} == {"admin"}
        assert len({r["actor"] for r in audit}) == 1  # the same caller on both paths

        invalid = await admin.put(
            "/v1/targets", json=[{"scope": "desk", "scope_id": "x", "period": MONTH, "value": 1}]
        )
        assert invalid.status_code == 422 and invalid.json()["errors"][0]["index"] == 0

        bad_csv = (
            "period,scope,scope_id,metric,value\n"
            f"{MONTH},employee,m1,valid_adds,44\n"
            f"{MONTH},employee,m2,valid_adds,many\n"
            f"2026-13,team,t2,valid_adds,5\n"
        )
        refused = await admin.post("/v1/targets/import", content=bad_csv.encode())
        assert refused.status_code == 422, refused.text
        assert [e["line"] for e in refused.json()["errors"]] == [3, 4]
        good_csv = (
            "period,scope,scope_id,metric,value\n"
            f"{MONTH},employee,m1,valid_adds,44\n"
            f"{MONTH},branch,b1,,12\n"
        )
        imported = await admin.post("/v1/targets/import", content=good_csv.encode())
        assert imported.status_code == 202, imported.text
        shown = await eventually(effective, lambda e: e["m1"]["target"] == 44)
        assert shown["m1"]["from"] == {"scope": "employee", "scope_id": "m1"}
        assert shown["m2"]["target"] == 12 and shown["m2"]["from"]["scope"] == "branch"
        # the bad file applied nothing: m1 never had 44 before the good one, m2 never "many"
        stored = (await admin.get("/v1/targets", params={"period": MONTH})).json()["targets"]
        assert {(t["scope"], t["scope_id"], t["value"]) for t in stored} == {
            ("team", "t1", 30),
            ("employee", "m1", 44),
            ("branch", "b1", 12),
        }
    await owner.close()


async def test_an_erased_contact_leaves_no_trace_in_case_evidence(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    """`wecom-quota erase` reaches the review cases' evidence snapshots too (SECURITY.md)."""
    settings = scorer_settings(infra, topics, database, refresh_settle_seconds=FAST)
    adds = [
        f.add("m1", "wm-gone", f.at(f"{MONTH}-05")),
        f.add("m1", "wm-kept", f.at(f"{MONTH}-06")),
    ]
    await produce(infra, topics.bank_records, org() + f.profiles_for(adds), key="org")
    await produce(infra, topics.contact_events, adds, key="e")
    async with running(create_app(settings)) as admin:

        async def gross() -> int:
            got = await admin.get("/v1/scores", params={"period": MONTH})
            rows = {e["employee_id"]: e for e in got.json()["employees"]}
            return int(rows["m1"]["gross_adds"]) if "m1" in rows else 0

        await eventually(gross, lambda n: n == 2)
    quoted = [
        {
            "code": "STAFF_ACCOUNT",
            "contribution": 45,
            "evidence": {"contacts": 2, "examples": ["wm-gone", "wm-kept"]},
        }
    ]
    owner = await asyncpg.connect(infra.owner_dsn(database))
    try:
        case_id = await owner.fetchval(
            "INSERT INTO review_case (employee_id, period, anomaly_score, reasons, opened_at) "
            "VALUES ('m1', $1, 45, $2::text::jsonb, now()) RETURNING case_id",
            MONTH,
            orjson.dumps(quoted).decode(),
        )
        await owner.execute(
            "INSERT INTO review_case_link (employee_id, period, case_id, anomaly_score, reasons, "
            "linked_at) VALUES ('m1', '2026-Q4', $1, 45, $2::text::jsonb, now())",
            case_id,
            orjson.dumps(quoted).decode(),
        )
        env = {
            **os.environ,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "ERASURE_HMAC_KEY": "erasure-key-" + "r" * 40,
            "SPOOL_DIR": str(tmp_path / "spool"),
            "RECONCILE_STATE_DIR": str(tmp_path / "reconcile"),
            "LOOKUP_STATE_DIR": str(tmp_path / "lookups"),
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.cli", "erase", "--external-userid", "wm-gone"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        for table in ("review_case", "review_case_link"):
            text = await owner.fetchval(f"SELECT reasons::text FROM {table}")
            assert "wm-gone" not in text and "wm-kept" in text and "(erased)" in text, table
    finally:
        await owner.close()


async def test_a_round_of_many_flags_joins_each_to_its_open_month_case(
    infra: Infra, database: str
) -> None:
    """A refresh round that flags many weeks and quarters (a pile-up flags many employees at
    once) links each to its employee's open month case, a week straddling two months to the
    open one of either; a flag whose months have no case, and none waiting to be recomputed,
    opens a case of its own; the same flags again change nothing."""
    conn = await asyncpg.connect(infra.app_dsn(database))
    published: list[Any] = []

    async def publish(events: Any) -> None:
        published.extend(events)

    cases = Cases(ReviewRules(), publish, lambda: datetime(2026, 11, 3, 12, tzinfo=UTC))
    reasons = [{"code": "PEER_INSTITUTION", "contribution": 48, "evidence": {"contacts": 4}}]

    def flag(employee: str, period: str, score: float = 48.0) -> dict[str, Any]:
        return {
            **dict.fromkeys(("target", "valid_adds", "gross_adds", "first_adds")),
            **dict.fromkeys(("pending_adds", "removed_adds", "quality_score", "status")),
            "employee_id": employee,
            "period": period,
            "branch_id": "b1",
            "team_id": "t1",
            "supervisor_id": "lead1",
            "anomaly_score": score,
            "reasons": reasons,
            "flagged": True,
        }

    try:
        month_case = {}
        for employee, month in (("m1", "2026-10"), ("m2", "2026-11")):
            month_case[employee] = await conn.fetchval(
                "INSERT INTO review_case (employee_id, period, anomaly_score, reasons, opened_at)"
                " VALUES ($1, $2, 48, $3::text::jsonb, now()) RETURNING case_id",
                employee,
                month,
                orjson.dumps(reasons).decode(),
            )
        flags = [
            flag("m1", "2026-W42"),
            flag("m1", "2026-Q4"),
            flag("m2", "2026-W44"),  # 26 October to 1 November: m2's case is November's
            flag("m3", "2026-W42"),  # no month case, nothing waiting: a case of its own
        ]
        await cases.on_scores(conn, flags)
        links = {
            (r["employee_id"], r["period"]): r["case_id"]
            for r in await conn.fetch("SELECT * FROM review_case_link")
        }
        assert links == {
            ("m1", "2026-W42"): month_case["m1"],
            ("m1", "2026-Q4"): month_case["m1"],
            ("m2", "2026-W44"): month_case["m2"],
        }
        own = await conn.fetch(
            "SELECT employee_id, period FROM review_case WHERE employee_id = 'm3'"
        )
        assert [(r["employee_id"], r["period"]) for r in own] == [("m3", "2026-W42")]

        await cases.on_scores(conn, [*flags[:3], flag("m1", "2026-W42", 52.0)])
        again = await conn.fetch("SELECT * FROM review_case_link ORDER BY employee_id, period")
        assert len(again) == 3
        assert {(r["period"], r["anomaly_score"]) for r in again if r["employee_id"] == "m1"} == {
            ("2026-W42", 52.0),
            ("2026-Q4", 48.0),
        }
        assert await conn.fetchval("SELECT count(*) FROM review_case") == 3
    finally:
        await conn.close()


async def test_a_week_stored_beside_its_month_joins_the_month_case(
    infra: Infra, database: str
) -> None:
    """The refresh stores each period in a transaction of its own, side by side: a week's flag
    stored while its month's new case is not committed yet waits for it and joins it, instead
    of finding neither a case nor a month waiting and being left without one (or opening a
    second case a moment after the month's)."""
    setup = await asyncpg.connect(infra.owner_dsn(database))
    month_tx = await asyncpg.connect(infra.app_dsn(database))
    week_tx = await asyncpg.connect(infra.app_dsn(database))

    async def publish(events: Any) -> None:
        pass

    cases = Cases(ReviewRules(), publish, lambda: datetime(2026, 11, 3, 12, tzinfo=UTC))
    reasons = [{"code": "PEER_INSTITUTION", "contribution": 48, "evidence": {"contacts": 4}}]

    def flag(period: str) -> dict[str, Any]:
        return {
            **dict.fromkeys(FIGURES),
            "employee_id": "m1",
            "period": period,
            "team_id": "t1",
            "anomaly_score": 48.0,
            "reasons": reasons,
            "flagged": True,
        }

    try:
        await setup.execute(
            "INSERT INTO score_dirty (employee_id, period)"
            " VALUES ('m1', '2026-10'), ('m1', '2026-W42')"
        )
        month = month_tx.transaction()
        await month.start()
        await month_tx.execute("DELETE FROM score_dirty WHERE period = '2026-10'")
        await cases.on_scores(month_tx, [flag("2026-10")])
        week = week_tx.transaction()
        await week.start()
        await week_tx.execute("DELETE FROM score_dirty WHERE period = '2026-W42'")
        storing = asyncio.create_task(cases.on_scores(week_tx, [flag("2026-W42")]))
        await asyncio.sleep(0.3)  # the week's store gets as far as it can before the month's
        await month.commit()
        await storing
        await week.commit()
        opened = await setup.fetch("SELECT case_id, period FROM review_case")
        assert [r["period"] for r in opened] == ["2026-10"]
        linked = await setup.fetch("SELECT period, case_id FROM review_case_link")
        assert [(r["period"], r["case_id"]) for r in linked] == [("2026-W42", opened[0]["case_id"])]
    finally:
        for conn in (setup, month_tx, week_tx):
            await conn.close()
