"""What reviewers and ops tell the scorer changes the figures (docs/console.md), on real Kafka
and PostgreSQL: a reviewer's `genuine` verdict on a peer bank's contacts makes them valid adds
at once, the anomaly recomputation clears the flag (a resolved `AnomalyFlagged`), the contacts
show the override with who and why, and the audit log has it; a `gamed` verdict makes an add
invalid; nobody gives a verdict on their own contacts. A known campaign registered by ops turns
a burst through its QR code from an anomaly into context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.scorer.app import create_app
from shared.auth import Role
from shared.settings import Topics
from tests import factories as f
from tests.apps import bearer, eventually, issue_token, running
from tests.infra import Infra
from tests.integration.conftest import scorer_settings
from tests.integration.test_review_cases import FAST, MONTH, org, peer_adds, peer_profiles
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


def fair(employee: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A street fair's 30 adds through one QR code within 90 minutes: 10 bank customers, 20 new
    prospects who have not written yet."""
    start = f.at(f"{MONTH}-12", 10)
    adds = [
        f.add(employee, f"wf-{i}", start + timedelta(minutes=3 * i), state="qr-fair")
        for i in range(30)
    ]
    facts = f.profiles_for(adds) + [
        {"type": "customer_link", "external_userid": f"wf-{i}", "is_customer": True}
        for i in range(10)
    ]
    return adds, facts


async def test_verdicts_and_campaigns_change_the_figures(
    infra: Infra, topics: Topics, database: str
) -> None:
    settings = scorer_settings(infra, topics, database, refresh_settle_seconds=FAST)
    peers = peer_adds("m1", range(5, 9))
    plain = [f.add("m2", f"wm-m2-{d}", f.at(f"{MONTH}-{d:02d}")) for d in (5, 6)]
    burst, burst_facts = fair("lead2")
    await produce(infra, topics.bank_records, org(), key="org")
    await produce(
        infra, topics.bank_records, peer_profiles(peers) + f.profiles_for(plain) + burst_facts, "p"
    )
    await produce(infra, topics.contact_events, peers + plain + burst, key="e")
    dsn = infra.app_dsn(database)
    async with running(create_app(settings)) as api:
        admin = bearer(await issue_token(dsn, Role.ADMIN))
        risk = bearer(await issue_token(dsn, Role.RISK))
        risk_m1 = bearer(await issue_token(dsn, Role.RISK, "m1"))

        async def month(employee: str) -> dict[str, Any]:
            got = await api.get("/v1/scores", params={"period": MONTH}, headers=admin)
            rows = {e["employee_id"]: e for e in got.json()["employees"]}
            return dict(rows.get(employee, {}))

        def codes(row: dict[str, Any]) -> set[str]:
            return {r["code"] for r in row.get("reasons", [])}

        flagged = await eventually(lambda: month("m1"), lambda r: r.get("flagged") is True)
        assert flagged["valid_adds"] == 0 and "PEER_INSTITUTION" in codes(flagged)
        await eventually(lambda: month("lead2"), lambda r: "QR_BATCH_BURST" in codes(r))
        m2 = await eventually(lambda: month("m2"), lambda r: r.get("valid_adds") == 2)

        url = "/v1/employees/{}/contacts/{}/verdict"
        body = {"verdict": "genuine", "reason": "known depositors, their bank's staff too"}
        first = peers[0]["ExternalUserID"]
        own = await api.put(url.format("m1", first), json=body, headers=risk_m1)
        assert own.status_code == 403  # nobody judges their own contacts
        missing = await api.put(url.format("m1", "wm-nobody"), json=body, headers=risk)
        assert missing.status_code == 404
        bad = await api.put(url.format("m1", first), json={"verdict": "maybe"}, headers=risk)
        assert bad.status_code == 400
        for a in peers:
            done = await api.put(url.format("m1", a["ExternalUserID"]), json=body, headers=risk)
            assert done.status_code == 200, done.text
        # the quota moves with the verdict's transaction; the anomaly with the recomputation
        assert (await month("m1"))["valid_adds"] == 4
        await eventually(
            lambda: month("m1"),
            lambda r: r["flagged"] is False and "PEER_INSTITUTION" not in codes(r),
        )
        contacts = await api.get(
            "/v1/employees/m1/contacts", params={"period": MONTH}, headers=risk
        )
        shown = {c["external_userid"]: c for c in contacts.json()}
        assert shown[first]["status"] == "valid"
        assert "REVIEWED_GENUINE" in shown[first]["facts"]  # marked, accusing nobody
        assert shown[first]["verdict"]["verdict"] == "genuine"
        assert shown[first]["verdict"]["reason"] == body["reason"]
        assert shown[first]["verdict"]["by"].startswith("test-risk")

        gamed = {"verdict": "gamed", "reason": "bought, the seller's list"}
        done = await api.put(url.format("m2", "wm-m2-5"), json=gamed, headers=risk)
        assert done.status_code == 200
        assert (await month("m2"))["valid_adds"] == m2["valid_adds"] - 1

        # a known campaign: the fair's burst is context, not an anomaly
        window = {
            "name": "Autumn street fair",
            "state": "qr-fair",
            "team_id": "t2",
            "starts_at": f"{MONTH}-12T08:00:00+08:00",
            "ends_at": f"{MONTH}-12T20:00:00+08:00",
        }
        refused = await api.post("/v1/campaigns", json=window, headers=risk)
        assert refused.status_code == 403  # ops (admin) register campaigns
        wrong = await api.post(
            "/v1/campaigns", json={**window, "ends_at": "tomorrow"}, headers=admin
        )
        assert wrong.status_code == 400 and "ends_at" in wrong.text
        made = await api.post("/v1/campaigns", json=window, headers=admin)
        assert made.status_code == 201, made.text
        listed = (await api.get("/v1/campaigns", headers=risk)).json()["campaigns"]
        assert [c["name"] for c in listed] == ["Autumn street fair"]
        context = await eventually(
            lambda: month("lead2"), lambda r: "QR_BATCH_BURST" not in codes(r)
        )
        favour = [r["evidence"]["in_favour"] for r in context["reasons"]]
        assert all(x.get("campaign_adds") == {"Autumn street fair": 30} for x in favour)

    owner = await asyncpg.connect(infra.owner_dsn(database))
    try:
        actions = [
            r["action"]
            for r in await owner.fetch("SELECT action FROM audit_log ORDER BY audit_id")
            if r["action"] in ("contact.verdict", "campaign.create")
        ]
    finally:
        await owner.close()
    assert actions == ["contact.verdict"] * 5 + ["campaign.create"]

    async def m1_month() -> list[tuple[str, str]]:
        return [
            (b["period"], b["status"])
            for b in await read_topic(infra, topics.breaches, expect=0, timeout_ms=3000)
            if b["alertname"] == "AnomalyFlagged"
            and b["employee_id"] == "m1"
            and b["period"] == MONTH
        ]

    # read until both are seen (a reader joining a busy broker may get one partition late)
    sent = await eventually(m1_month, lambda got: len(got) >= 2)
    assert sent == [(MONTH, "firing"), (MONTH, "resolved")]


async def test_a_verdict_in_a_closed_period_is_a_late_correction_with_its_flip_notice(
    infra: Infra, topics: Topics, database: str
) -> None:
    settings = scorer_settings(infra, topics, database, refresh_settle_seconds=FAST)
    peers = peer_adds("m1", range(5, 9))
    await produce(infra, topics.bank_records, org(), key="org")
    await produce(
        infra,
        topics.bank_records,
        [*peer_profiles(peers), f.target("employee", "m1", MONTH, 4)],
        "p",
    )
    await produce(infra, topics.contact_events, peers, key="e")
    dsn = infra.app_dsn(database)
    async with running(create_app(settings)) as api:
        admin = bearer(await issue_token(dsn, Role.ADMIN))

        async def month() -> dict[str, Any]:
            got = await api.get("/v1/scores", params={"period": MONTH}, headers=admin)
            rows = {e["employee_id"]: e for e in got.json()["employees"]}
            return dict(rows.get("m1", {}))

        await eventually(month, lambda r: r.get("gross_adds") == 4 and r.get("target") == 4)
        closed = await api.post(f"/v1/periods/{MONTH}/close?force=true", headers=admin)
        assert closed.status_code == 200, closed.text
        assert (await month())["status"] == "missed"
        body = {"verdict": "genuine", "reason": "customers of ours, whatever their employer"}
        for a in peers:
            url = f"/v1/employees/m1/contacts/{a['ExternalUserID']}/verdict"
            assert (await api.put(url, json=body, headers=admin)).status_code == 200
        met = await eventually(month, lambda r: r["status"] == "met")
        assert met["valid_adds"] == 4
    sent = [
        (b["alertname"], b["status"])
        for b in await read_topic(infra, topics.breaches, expect=0, timeout_ms=3000)
        if b["employee_id"] == "m1" and b["period"] == MONTH and b["alertname"] == "TargetMissed"
    ]
    assert sent == [("TargetMissed", "firing"), ("TargetMissed", "resolved")]
    owner = await asyncpg.connect(infra.owner_dsn(database))
    try:
        # one revision, or one per refresh round the four verdicts spanned; one flipped it
        flips = await owner.fetch(
            """SELECT old_valid_adds, new_valid_adds FROM period_revision
                WHERE period = $1 AND employee_id = 'm1' AND outcome_flipped""",
            MONTH,
        )
    finally:
        await owner.close()
    assert len(flips) == 1 and flips[0]["new_valid_adds"] == 4, flips
