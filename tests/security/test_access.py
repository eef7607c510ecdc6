"""Access control on real Kafka and PostgreSQL (SECURITY.md): every route of every service's
OpenAPI document asked with no credential, a wrong role, an out-of-scope supervisor and the
right role; a supervisor's scores are exactly their org subtree as it stood in the period
asked for (through filters and pages); alerts routed to a supervisor, escalations included; an
acknowledgement records the authenticated caller; every state-changing call leaves an audit
row; the application role cannot change or remove one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.routing import Route

from services.ingestor.app import create_app as ingestor_app
from services.ingestor.settings import IngestorSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.auth import Role
from shared.cli import main as wecom_quota
from shared.settings import Topics
from tests import factories as f
from tests.apps import ROOT, bearer, eventually, issue_token, running
from tests.infra import Infra, unique
from tests.kafka_helpers import produce
from tests.standins.sso import AUDIENCE, ISSUER, Sso

pytestmark = pytest.mark.integration

INGEST_TOKEN = "ingest-" + "k" * 30
SSO = Sso()
PUBLIC = {"/healthz", "/readyz", "/metrics", "/wecom/callback", "/v1/ack"}
# The contract documents, public as /openapi.json is (they hold no data), and not in the
# OpenAPI documents themselves.
DOCUMENTS = {"/openapi.json", "/asyncapi.json"}
# Alertmanager's receiver: its own bearer (NOTIFIER_ALERTMANAGER_TOKEN), no user's token.
ALERTMANAGER = ("notifier", "post", "/v1/alertmanager")
# The org: boss ← lead9 ← m1 ← m4, lead9 ← m2, boss ← lead8 ← m3; in October m2 moves to lead8.
SEPTEMBER = {"lead9": {"lead9", "m1", "m2", "m4"}, "lead8": {"lead8", "m3"}}
OCTOBER = {"lead9": {"lead9", "m1", "m4"}, "lead8": {"lead8", "m2", "m3"}}


def org_records() -> list[dict[str, Any]]:
    early = "2026-08-01T09:00:00+08:00"
    people = [
        ("boss", None, "t0"),
        ("lead9", "boss", "t9"),
        ("lead8", "boss", "t8"),
        ("m1", "lead9", "t9"),
        ("m2", "lead9", "t9"),
        ("m4", "m1", "t9"),
        ("m3", "lead8", "t8"),
    ]
    records = [
        {**f.employee(e, team_id=t, supervisor_id=s), "occurred_at": early} for e, s, t in people
    ]
    moved = f.employee("m2", team_id="t8", supervisor_id="lead8")
    records.append({**moved, "occurred_at": "2026-10-02T09:00:00+08:00"})
    return records


@dataclass
class Stack:
    scorer: httpx.AsyncClient
    notifier: httpx.AsyncClient
    ingestor: httpx.AsyncClient
    tokens: dict[str, dict[str, str]]  # who → headers
    alerts: dict[str, int]  # lead9's, lead8's, lead8's escalated to lead9
    silence: int
    owner_dsn: str
    app_dsn: str
    routes: dict[str, set[tuple[str, str]]]  # service → (method, path) the app serves
    cases: dict[str, int]  # the review case of m1 (lead9's) and of m3 (lead8's)
    console: set[tuple[str, str]]  # (method, path) of the scorer's console pages


async def seed_cases(dsn: str) -> dict[str, int]:
    """Review cases of September: m1 (lead9's subtree) and m3 (lead8's)."""
    conn = await asyncpg.connect(dsn)
    try:
        return {
            employee: await conn.fetchval(
                "INSERT INTO review_case (employee_id, period, team_id, branch_id, supervisor_id, "
                "anomaly_score, reasons, opened_at) VALUES ($1, '2026-09', $2, 'b1', $3, 55, "
                """'[{"code": "PEER_INSTITUTION", "contribution": 55, "evidence": {}}]', now()) """
                "RETURNING case_id",
                employee,
                team,
                lead,
            )
            for employee, team, lead in (("m1", "t9", "lead9"), ("m3", "t8", "lead8"))
        }
    finally:
        await conn.close()


async def seed_alerts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        ids = {}
        for name, employee, supervisor in (
            ("lead9", "m1", "lead9"),
            ("lead8", "m3", "lead8"),
            ("escalated", "m3", "lead8"),
        ):
            ids[name] = await conn.fetchval(
                "INSERT INTO alert (breach_event_id, alertname, status, employee_id, period, "
                "supervisor_id, summary, details, starts_at) VALUES ($1, 'TargetMissed', "
                "'firing', $2, '2026-09', $3, 'missed', '{}', now()) RETURNING alert_id",
                f"b-{name}",
                employee,
                supervisor,
            )
        # the third escalated to lead9 (level 1): routed to lead9 as well
        await conn.execute(
            "INSERT INTO notice_outbox (alert_id, channel, recipient, idempotency_key, payload, "
            "alertname, employee_key, period, status, level, group_key, state) VALUES "
            "($1, 'log', 'lead9', 'esc-1', '{}', 'TargetMissed', 'm3', '2026-09', 'firing', 1, "
            "'g', 'sent')",
            ids["escalated"],
        )
        return ids
    finally:
        await conn.close()


@pytest.fixture
async def stack(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    sso: dict[str, Any] = {
        "sso_jwks": str(SSO.write_jwks(tmp_path / "jwks.json")),
        "sso_issuer": ISSUER,
        "sso_audience": AUDIENCE,
    }
    db: dict[str, Any] = {
        **sso,
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "database_url": SecretStr(infra.app_dsn(database)),
        "database_migration_url": SecretStr(infra.owner_dsn(database)),
    }
    adds = [
        f.add(e, f"wm-{e}-{month}", f.at(f"2026-{month}-15"))
        for e in ("boss", "lead9", "lead8", "m1", "m2", "m3", "m4")
        for month in ("09", "10")
    ]
    await produce(infra, topics.bank_records, org_records(), key="org")
    await produce(infra, topics.bank_records, f.profiles_for(adds), key="profiles")
    await produce(infra, topics.contact_events, adds, key="e")
    scorer_cfg = ScorerSettings(
        topics=topics, scorer_group_id=unique("scorer"), close_period_kinds=[], **db
    )
    notifier_cfg = NotifierSettings(topics=topics, notifier_group_id=unique("notifier"), **db)
    ingestor_cfg = IngestorSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        topics=topics,
        ingest_api_tokens=SecretStr(INGEST_TOKEN),
        **sso,
    )
    apps = {
        "scorer": scorer_app(scorer_cfg),
        "notifier": notifier_app(notifier_cfg),
        "ingestor": ingestor_app(ingestor_cfg),
    }
    served = {
        name: {
            (method.lower(), route.path)
            for route in app.routes
            if isinstance(route, Route)
            for method in route.methods or ()
            if method != "HEAD" and route.path not in DOCUMENTS
        }
        for name, app in apps.items()
    }
    console = {(m, p) for m, p in served["scorer"] if p.startswith("/console")}
    async with (
        running(apps["scorer"], role=None) as scorer,
        running(apps["notifier"], role=None) as notifier,
        running(apps["ingestor"]) as ingestor,
    ):
        dsn = infra.app_dsn(database)
        tokens = {
            "admin": bearer(await issue_token(dsn, Role.ADMIN)),
            "risk": bearer(await issue_token(dsn, Role.RISK)),
            "viewer": bearer(await issue_token(dsn, Role.VIEWER)),
            "ingest-db": bearer(await issue_token(dsn, Role.INGEST)),
            "lead9": bearer(await issue_token(dsn, Role.SUPERVISOR, "lead9")),
            "lead8": bearer(await issue_token(dsn, Role.SUPERVISOR, "lead8")),
            "ingest": bearer(INGEST_TOKEN),
            "sso-ingest": bearer(SSO.token(role="ingest", employee_id=None)),
            "sso-admin": bearer(SSO.token(role="admin", employee_id=None)),
            "sso-lead9": bearer(SSO.token(role="supervisor", employee_id="lead9")),
        }
        alerts = await seed_alerts(infra.owner_dsn(database))
        cases = await seed_cases(infra.owner_dsn(database))
        silence = await notifier.post(
            "/v1/silences",
            json={
                "matchers": [{"name": "employee_id", "value": "m9"}],
                "startsAt": "2026-09-01T00:00:00Z",
                "endsAt": "2036-09-01T00:00:00Z",
                "createdBy": "someone-else",
                "comment": "seed",
            },
            headers=tokens["risk"],
        )
        assert silence.status_code == 201, silence.text
        assert silence.json()["createdBy"].endswith("[risk]")  # the caller, not the body

        async def everyone(period: str) -> set[str]:
            got = await scorer.get("/v1/scores", params={"period": period}, headers=tokens["admin"])
            return {e["employee_id"] for e in got.json()["employees"]}

        for period in ("2026-09", "2026-10"):
            await eventually(lambda p=period: everyone(p), lambda s: len(s) == 7, timeout=60)  # type: ignore[misc]
        yield Stack(
            scorer,
            notifier,
            ingestor,
            tokens,
            alerts,
            silence.json()["silenceID"],
            infra.owner_dsn(database),
            dsn,
            served,
            cases,
            console,
        )


@dataclass(frozen=True)
class Rule:
    """How one route answers: `right` may call it; `wrong` is refused by role; `scoped` is
    a supervisor whose scope the concrete request lies outside of (403 for a single resource;
    for a list, 200 with nothing of the other subtree); `state_changing` routes are called
    last, with an X-Request-ID the audit row must carry."""

    url: str
    right: str
    wrong: str
    scoped: str | None = "lead8"
    body: Any = None
    scoped_list: Callable[[Any], bool] | None = None  # what lead8 sees of a list is theirs


def rules(stack: Stack) -> dict[tuple[str, str, str], Rule]:
    """Per (service, method, OpenAPI path): the concrete request and the roles to try."""
    alert = stack.alerts["lead9"]

    def lead8_scores(body: Any) -> bool:
        return {e["employee_id"] for e in body["employees"]} == SEPTEMBER["lead8"]

    case = stack.cases["m1"]

    def lead8_cases(body: Any) -> bool:
        return [c["case_id"] for c in body["cases"]] == [stack.cases["m3"]]

    def lead8_alerts(body: Any) -> bool:
        return alert not in {a["alert_id"] for a in body["alerts"]} and bool(body["alerts"])

    return {
        ("scorer", "get", "/v1/scores"): Rule(
            "/v1/scores?period=2026-09", "sso-lead9", "viewer", scoped_list=lead8_scores
        ),
        ("scorer", "get", "/v1/aggregates"): Rule(
            "/v1/aggregates?period=2026-09", "viewer", "ingest-db"
        ),
        ("scorer", "get", "/v1/employees/{employee_id}/contacts"): Rule(
            "/v1/employees/m1/contacts?period=2026-09", "lead9", "viewer"
        ),
        ("scorer", "post", "/v1/periods/{period}/close"): Rule(
            "/v1/periods/2026-09/close?force=true", "admin", "risk"
        ),
        ("scorer", "get", "/v1/audit"): Rule("/v1/audit", "risk", "viewer"),
        ("notifier", "get", "/v1/alerts"): Rule(
            "/v1/alerts", "lead9", "viewer", scoped_list=lead8_alerts
        ),
        ("notifier", "post", "/v1/alerts/{alert_id}/ack"): Rule(
            f"/v1/alerts/{alert}/ack", "lead9", "viewer", body={"by": "spoofed"}
        ),
        ("notifier", "get", "/v1/silences"): Rule("/v1/silences", "risk", "lead9"),
        ("notifier", "post", "/v1/silences"): Rule(
            "/v1/silences",
            "admin",
            "viewer",
            body={
                "matchers": [{"name": "alertname", "value": "TargetMissed"}],
                "startsAt": "2026-09-01T00:00:00Z",
                "endsAt": "2036-09-01T00:00:00Z",
                "comment": "walk",
            },
        ),
        ("notifier", "delete", "/v1/silences/{silence_id}"): Rule(
            f"/v1/silences/{stack.silence}", "risk", "lead9"
        ),
        ("notifier", "get", "/v1/audit"): Rule("/v1/audit", "admin", "lead9"),
        ("scorer", "get", "/v1/cases"): Rule(
            "/v1/cases", "lead9", "viewer", scoped_list=lead8_cases
        ),
        ("scorer", "get", "/v1/cases/export.csv"): Rule(
            "/v1/cases/export.csv", "risk", "lead9", scoped=None
        ),
        ("scorer", "get", "/v1/cases/{case_id}"): Rule(f"/v1/cases/{case}", "lead9", "viewer"),
        ("scorer", "post", "/v1/cases/{case_id}/decision"): Rule(
            f"/v1/cases/{case}/decision",
            "risk",
            "viewer",
            body={"decision": "dismiss", "reason": "walk"},
        ),
        ("scorer", "get", "/v1/targets"): Rule("/v1/targets?period=2026-09", "admin", "risk"),
        ("scorer", "put", "/v1/targets"): Rule(
            "/v1/targets", "admin", "risk", body=f.target("team", "t5", "2026-12", 3)
        ),
        ("scorer", "post", "/v1/targets/import"): Rule(
            "/v1/targets/import",
            "sso-admin",
            "lead9",
            body=b"period,scope,scope_id,metric,value\n2026-12,team,t6,valid_adds,4\n",
        ),
        ("scorer", "put", "/v1/employees/{employee_id}/contacts/{external_userid}/verdict"): Rule(
            "/v1/employees/m1/contacts/wm-m1-09/verdict",
            "risk",
            "lead9",
            scoped=None,
            body={"verdict": "genuine", "reason": "walk"},
        ),
        ("scorer", "get", "/v1/campaigns"): Rule("/v1/campaigns", "risk", "lead9", scoped=None),
        ("scorer", "post", "/v1/campaigns"): Rule(
            "/v1/campaigns",
            "admin",
            "risk",
            scoped=None,
            body={
                "name": "walk",
                "state": "qr-walk",
                "team_id": "t5",
                "starts_at": "2026-09-01T09:00:00+08:00",
                "ends_at": "2026-09-02T09:00:00+08:00",
            },
        ),
        ("ingestor", "post", "/v1/events"): Rule(
            "/v1/events",
            "sso-ingest",
            "sso-admin",
            scoped="sso-lead9",
            body=[f.target("team", "t5", "2026-12", 1)],
        ),
    }


def documented(service: str) -> list[tuple[str, str, dict[str, Any]]]:
    doc = json.loads((ROOT / "services" / service / "openapi.json").read_text())
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


async def test_every_route_of_every_service_is_guarded(stack: Stack) -> None:
    clients = {"scorer": stack.scorer, "notifier": stack.notifier, "ingestor": stack.ingestor}
    table = rules(stack)
    walked = set()
    for service, client in clients.items():
        # the document holds every route the app serves (and nothing it does not)
        assert {(m, p) for m, p, _ in documented(service)} == stack.routes[service], service
        for method, path, operation in documented(service):
            if path.startswith("/console"):  # pages: test_every_console_page_needs_a_session…
                assert (method, path) in stack.console, path
                continue
            if path in PUBLIC:
                assert operation["security"] == [], f"{service} {path} is public"
                continue
            assert operation["security"], f"{service} {method} {path} documents no security"
            if (service, method, path) == ALERTMANAGER:
                # no user's token opens it, an admin's neither
                for who in (None, "admin"):
                    headers = dict(stack.tokens[who]) if who else {}
                    answer = await client.post(path, json={}, headers=headers)
                    assert answer.status_code == 401, (who, answer.text)
                continue
            assert {"401", "403"} <= set(operation["responses"]), (service, method, path)
            rule = table[(service, method, path)]  # a new route needs a rule here
            walked.add((service, method, path))

            async def call(
                who: str | None,
                rule: Rule = rule,
                c: httpx.AsyncClient = client,
                m: str = method,
            ) -> httpx.Response:
                headers = dict(stack.tokens[who]) if who else {}
                headers["x-request-id"] = f"walk-{who}"
                if isinstance(rule.body, bytes):  # a CSV
                    return await c.request(m.upper(), rule.url, content=rule.body, headers=headers)
                return await c.request(m.upper(), rule.url, json=rule.body, headers=headers)

            where = f"{service} {method.upper()} {rule.url}"
            for credential in ({}, bearer("wq_" + "A" * 43), bearer("not-a-token")):
                answer = await client.request(method.upper(), rule.url, headers=credential)
                assert answer.status_code == 401, (where, answer.text)
                assert answer.json()["error"]
            wrong = await call(rule.wrong)
            assert wrong.status_code == 403, (where, rule.wrong, wrong.text)
            assert "may not" in wrong.json()["error"]
            if rule.scoped is not None:
                scoped = await call(rule.scoped)
                if rule.scoped_list is not None:
                    assert scoped.status_code == 200, (where, scoped.text)
                    assert rule.scoped_list(scoped.json()), (where, scoped.text)
                else:
                    assert scoped.status_code == 403, (where, scoped.text)
            right = await call(rule.right)
            assert 200 <= right.status_code < 300, (where, rule.right, right.text)
    assert walked == set(table)
    # a supervisor in scope still may not decide while REVIEW_SUPERVISORS_DECIDE is off
    own = await stack.scorer.post(
        f"/v1/cases/{stack.cases['m1']}/decision",
        json={"decision": "confirm", "reason": "mine to judge?"},
        headers=stack.tokens["lead9"],
    )
    assert own.status_code == 403 and "REVIEW_SUPERVISORS_DECIDE" in own.json()["error"]


async def test_a_revoked_token_is_refused_and_tokens_are_audited(stack: Stack) -> None:
    env_dsn = {"DATABASE_URL": stack.app_dsn, "DATABASE_MIGRATION_URL": stack.owner_dsn}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env_dsn.items():
            mp.setenv(k, v)
        created = await _cli(["tokens", "create", "--role", "risk", "--name", "r-laptop"])
        assert created[0] == 0
        token = created[1].strip()
        assert token.startswith("wq_")
        risk = bearer(token)
        assert (await stack.scorer.get("/v1/audit", headers=risk)).status_code == 200
        assert (await _cli(["tokens", "revoke", "r-laptop"]))[0] == 0
        assert (await stack.scorer.get("/v1/audit", headers=risk)).status_code == 401
        listing = (await _cli(["tokens", "list"]))[1]
        assert "r-laptop\trisk" in listing and token not in listing
        assert (await _cli(["tokens", "create", "--role", "supervisor", "--name", "x"]))[0] == 2
    conn = await asyncpg.connect(stack.owner_dsn)
    try:
        stored = await conn.fetch("SELECT token_hash FROM api_token")
        assert all(token not in r["token_hash"] for r in stored)  # only the hash is kept
    finally:
        await conn.close()
    entries = (await stack.scorer.get("/v1/audit", headers=stack.tokens["admin"])).json()
    actions = [(e["action"], e["target"]) for e in entries["entries"]]
    assert ("token.create", "r-laptop") in actions and ("token.revoke", "r-laptop") in actions


async def _cli(argv: list[str]) -> tuple[int, str]:
    import asyncio
    import contextlib
    import io

    out = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out):
            return wecom_quota(argv)

    code = await asyncio.to_thread(run)
    return code, out.getvalue()


async def scores_of(stack: Stack, who: str, **params: str) -> list[str]:
    answer = await stack.scorer.get("/v1/scores", params=params, headers=stack.tokens[who])
    assert answer.status_code == 200, answer.text
    return [e["employee_id"] for e in answer.json()["employees"]]


async def test_a_supervisor_sees_exactly_their_subtree_as_it_stood(stack: Stack) -> None:
    for period, subtrees in (("2026-09", SEPTEMBER), ("2026-10", OCTOBER)):
        for lead, subtree in subtrees.items():
            assert await scores_of(stack, lead, period=period) == sorted(subtree)
            paged: list[str] = []
            params = {"period": period, "limit": "1"}
            while True:
                page = await stack.scorer.get(
                    "/v1/scores", params=params, headers=stack.tokens[lead]
                )
                body = page.json()
                paged += [e["employee_id"] for e in body["employees"]]
                if "next_after" not in body:
                    break
                params["after"] = body["next_after"]
            assert paged == sorted(subtree), (lead, period)
    # filters narrow within the subtree, never widen it
    assert await scores_of(stack, "lead9", period="2026-09", team_id="t8") == []
    assert await scores_of(stack, "lead8", period="2026-10", team_id="t8") == ["lead8", "m2", "m3"]
    assert await scores_of(stack, "risk", period="2026-10", team_id="t8") == ["lead8", "m2", "m3"]

    async def contacts(who: str, employee: str, period: str) -> int:
        url = f"/v1/employees/{employee}/contacts"
        answer = await stack.scorer.get(url, params={"period": period}, headers=stack.tokens[who])
        return answer.status_code

    assert await contacts("lead9", "m2", "2026-09") == 200  # m2 was lead9's in September
    assert await contacts("lead9", "m2", "2026-10") == 403  # and lead8's in October
    assert await contacts("lead8", "m2", "2026-10") == 200
    assert await contacts("lead9", "m4", "2026-09") == 200  # two levels down
    assert await contacts("lead9", "boss", "2026-09") == 403  # up is not down
    assert await contacts("risk", "boss", "2026-09") == 200


async def test_alerts_routed_to_a_supervisor_and_acks_as_the_caller(stack: Stack) -> None:
    async def alert_ids(who: str) -> set[int]:
        answer = await stack.notifier.get("/v1/alerts", headers=stack.tokens[who])
        assert answer.status_code == 200, answer.text
        return {a["alert_id"] for a in answer.json()["alerts"]}

    ids = stack.alerts
    assert await alert_ids("lead9") == {ids["lead9"], ids["escalated"]}
    assert await alert_ids("lead8") == {ids["lead8"], ids["escalated"]}
    assert await alert_ids("risk") == set(ids.values())
    ack = await stack.notifier.post(
        f"/v1/alerts/{ids['escalated']}/ack",
        json={"by": "somebody else"},
        headers={**stack.tokens["lead9"], "x-request-id": "req-ack-1"},
    )
    assert ack.status_code == 200, ack.text
    by = ack.json()["acknowledged_by"]
    assert "lead9" in by and "[supervisor]" in by and "somebody" not in by
    refused = await stack.notifier.post(
        f"/v1/alerts/{ids['lead8']}/ack", headers=stack.tokens["lead9"]
    )
    assert refused.status_code == 403 and "scope" in refused.json()["error"]
    missing = await stack.notifier.post("/v1/alerts/999999/ack", headers=stack.tokens["lead9"])
    assert missing.status_code == 404
    entries = (await stack.notifier.get("/v1/audit", headers=stack.tokens["risk"])).json()
    row = next(e for e in entries["entries"] if e["request_id"] == "req-ack-1")
    assert row["action"] == "alert.ack" and row["target"] == str(ids["escalated"])
    assert row["role"] == "supervisor" and row["employee_id"] == "lead9"
    assert row["before"]["acknowledged_at"] is None and row["after"]["acknowledged_by"] == by


async def test_every_state_changing_call_is_audited(stack: Stack) -> None:
    admin = stack.tokens["admin"]
    closes = [
        ("/v1/periods/2026-09/close?force=true", "period.close_forced", "2026-09"),
        ("/v1/periods/2026-08/close", "period.close", "2026-08"),
    ]
    for url, _, _ in closes:
        answer = await stack.scorer.post(url, headers={**admin, "x-request-id": f"req-{url}"})
        assert answer.status_code in (200, 409), answer.text
    made = await stack.notifier.post(
        "/v1/silences",
        json={
            "matchers": [{"name": "employee_id", "value": "m1"}],
            "startsAt": "2026-09-01T00:00:00Z",
            "endsAt": "2036-09-01T00:00:00Z",
        },
        headers={**admin, "x-request-id": "req-silence"},
    )
    silence = made.json()["silenceID"]
    gone = await stack.notifier.delete(
        f"/v1/silences/{silence}", headers={**admin, "x-request-id": "req-expire"}
    )
    assert gone.status_code == 200
    entries = (await stack.scorer.get("/v1/audit", headers=stack.tokens["risk"])).json()
    by_request = {e["request_id"]: e for e in entries["entries"]}
    for url, action, target in closes:
        row = by_request[f"req-{url}"]
        assert (row["action"], row["target"], row["role"]) == (action, target, "admin")
        assert row["before"] == {"closed": False} and row["after"]["period"] == target
    assert by_request["req-silence"]["action"] == "silence.create"
    assert by_request["req-silence"]["after"]["matchers"][0]["value"] == "m1"
    expire = by_request["req-expire"]
    assert expire["action"] == "silence.expire" and expire["target"] == str(silence)
    assert expire["before"]["status"]["state"] == "active"
    assert expire["after"]["status"]["state"] == "expired"
    page = await stack.scorer.get("/v1/audit?limit=1&action=silence.create", headers=admin)
    assert len(page.json()["entries"]) == 1 and "next_before" in page.json()


async def test_the_application_role_cannot_change_or_remove_the_audit_log(stack: Stack) -> None:
    await stack.scorer.post("/v1/periods/2026-09/close?force=true", headers=stack.tokens["admin"])
    app = await asyncpg.connect(stack.app_dsn)
    try:
        assert await app.fetchval("SELECT count(*) FROM audit_log") >= 1
        await app.execute(
            "INSERT INTO audit_log (actor, role, action, target) VALUES ('t', 'admin', 'x', 'y')"
        )
        for sql in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM api_token",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(sql)
    finally:
        await app.close()
    owner = await asyncpg.connect(stack.owner_dsn)
    try:  # the owner is stopped too, by the trigger
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("DELETE FROM audit_log")
    finally:
        await owner.close()


async def test_a_viewer_sees_team_and_branch_totals_never_an_employee(stack: Stack) -> None:
    viewer = stack.tokens["viewer"]
    answer = await stack.scorer.get("/v1/aggregates?period=2026-10", headers=viewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    teams = {t["team_id"]: t for t in body["teams"]}
    assert teams["t8"]["employees"] == 3 and teams["t9"]["employees"] == 3  # m2 moved to t8
    assert teams["t8"]["gross_adds"] == 3
    assert [b["employees"] for b in body["branches"]] == [7]
    assert all("employee_id" not in row for row in body["teams"] + body["branches"])
    for url in ("/v1/scores?period=2026-10", "/v1/employees/m1/contacts?period=2026-10"):
        assert (await stack.scorer.get(url, headers=viewer)).status_code == 403


@dataclass(frozen=True)
class Page:
    """How one console page answers: `right` may open it (a form posted with the session's
    CSRF token), `wrong` gets the 403 page by role, `scoped` (a supervisor) the 403 page for
    a case outside their subtree; without a session every page sends to the sign-in."""

    url: str
    right: str
    wrong: str
    scoped: str | None = None
    form: dict[str, str] | None = None


CONSOLE_PUBLIC = {
    ("get", "/console/"),
    ("get", "/console/login"),
    ("post", "/console/login"),
    ("post", "/console/logout"),
}


async def test_every_console_page_needs_a_session_and_the_role(stack: Stack) -> None:
    from tests.console_client import sign_in

    m1, m3 = stack.cases["m1"], stack.cases["m3"]
    pages = {
        ("get", "/console/cases"): Page("/console/cases", "sso-lead9", "viewer"),
        ("get", "/console/cases/export.csv"): Page("/console/cases/export.csv", "risk", "lead9"),
        ("get", "/console/cases/{case_id}"): Page(
            f"/console/cases/{m3}", "lead8", "viewer", "lead9"
        ),
        ("post", "/console/cases/{case_id}/decision"): Page(
            f"/console/cases/{m3}/decision",
            "risk",
            "viewer",
            "lead9",
            {"decision": "confirm", "reason": "walk"},
        ),
        ("post", "/console/cases/{case_id}/verdict"): Page(
            f"/console/cases/{m3}/verdict",
            "risk",
            "lead8",
            form={"external_userid": "wm-m3-09", "verdict": "genuine", "reason": "walk"},
        ),
        ("get", "/console/campaigns"): Page("/console/campaigns", "risk", "lead9"),
        ("post", "/console/campaigns"): Page(
            "/console/campaigns",
            "admin",
            "risk",
            form={
                "name": "walk",
                "state": "qr-walk",
                "team_id": "t7",
                "starts_at": "2026-09-01T09:00:00+08:00",
                "ends_at": "2026-09-02T09:00:00+08:00",
            },
        ),
        ("get", "/console/targets"): Page("/console/targets", "admin", "risk"),
        ("post", "/console/targets"): Page(
            "/console/targets",
            "admin",
            "risk",
            form={"period": "2026-12", "scope": "team", "scope_id": "t7", "value": "2"},
        ),
        ("post", "/console/targets/import"): Page(
            "/console/targets/import",
            "admin",
            "risk",
            form={"csv": "period,scope,scope_id,metric,value\n2026-12,team,t7,valid_adds,3\n"},
        ),
    }
    assert stack.console == set(pages) | CONSOLE_PUBLIC  # a new page needs a rule here
    for method, path, operation in documented("scorer"):
        if path.startswith("/console"):  # the document says which pages need the session
            wanted: list[dict[str, list[str]]] = (
                [] if (method, path) in CONSOLE_PUBLIC else [{"console": []}]
            )
            assert operation["security"] == wanted, (method, path)
    client = stack.scorer
    sessions = {}
    for who in {"sso-lead9", "viewer", "risk", "lead9", "lead8", "admin"}:
        token = stack.tokens[who]["authorization"].removeprefix("Bearer ")
        sessions[who] = await sign_in(client, token)
    bad = await client.post(
        "/console/login", data={"token": "wq_" + "A" * 43, "csrf": "x"}, headers={"cookie": ""}
    )
    assert bad.status_code == 400  # no sign-in form behind it (CSRF)
    for (method, _), page in pages.items():
        where = f"{method.upper()} {page.url}"

        async def call(who: str | None, csrf: bool = True, p: Page = page, m: str = method) -> Any:
            session = sessions[who] if who else None
            headers = {"authorization": "", "cookie": session.cookie if session else ""}
            if m == "get":
                return await client.get(p.url, headers=headers)
            form = {**(p.form or {}), "csrf": session.csrf if session and csrf else "forged"}
            return await client.post(p.url, data=form, headers=headers)

        anonymous = await call(None)
        assert anonymous.status_code == 303, where
        assert anonymous.headers["location"] == "/console/login", where
        # an API bearer token opens no console page: the console takes its own session only
        with_bearer = await client.get(page.url, headers={**stack.tokens["admin"], "cookie": ""})
        assert with_bearer.status_code in (303, 405), where
        wrong = await call(page.wrong)
        assert wrong.status_code == 403 and "may not" in wrong.text, (where, wrong.text)
        if page.scoped:
            scoped = await call(page.scoped)
            assert scoped.status_code == 403 and "scope" in scoped.text, (where, scoped.text)
        if method == "post":
            forged = await call(page.right, csrf=False)
            assert forged.status_code == 403 and "CSRF" in forged.text, where
        right = await call(page.right)
        assert right.status_code in (200, 303), (where, right.text)
        if method == "get" and page.url.endswith("cases"):
            assert f"/console/cases/{m1}" in right.text  # lead9's list has m1's case
            assert f"/console/cases/{m3}" not in right.text  # and not lead8's
    entries = (await client.get("/v1/audit", headers=stack.tokens["risk"])).json()["entries"]
    decided = [e for e in entries if e["action"] == "case.confirm"]
    assert [e["target"] for e in decided] == [f"case:{m3}"] and decided[0]["role"] == "risk"
    # signing out ends the session
    out = await client.post(
        "/console/logout",
        data={"csrf": sessions["admin"].csrf},
        headers={"cookie": sessions["admin"].cookie, "authorization": ""},
    )
    assert out.status_code == 303
    after = await client.get("/console/targets", headers={**sessions["admin"].headers})
    assert after.status_code == 303
