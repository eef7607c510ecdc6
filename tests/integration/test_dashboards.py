"""The dashboards and rules against the real thing: the three services as processes on the
test Kafka and PostgreSQL, a real Prometheus (Debian's binary, started by
deploy/local/prometheus.sh) scraping them every second, and a little traffic — org, targets,
adds, a period close with its alert delivered to a webhook, and two undecodable records.

Then every PromQL expression of the dashboards and of the recording and alerting rules must
return data through Prometheus' HTTP API, and every SQL panel, its macros and variables
expanded as Grafana does, must run as the read-only role and return its expected columns."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from shared.auth import Role
from shared.calendar import BusinessCalendar
from shared.cli import issue
from shared.clock import Clock, offset_to, shifted_clock
from tests import factories as f
from tests import grafana
from tests.apps import bearer, eventually, service_process
from tests.clocks import AS_OF
from tests.infra import ROOT, Infra, create_database, drop_database, unique
from tests.kafka_helpers import produce
from tests.processes import MAKE_UP_PROCESSES
from tests.standins.webhook_sink import free_port, webhook_sink
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration
TOKEN = "dashboards-token-0123456789"
WECOM = WeComClient("dashboardsQDG6eK01", random_aes_key(), "wwdashboards000001")
SHANGHAI = ZoneInfo("Asia/Shanghai")


EXPECTED_COLUMNS: dict[tuple[str, str], list[str]] = {
    ("business-overview.json", "Employees by status"): [
        "on_track", "behind", "met", "missed", "no_target", "flagged",
    ],
    ("business-overview.json", "Attainment by branch (valid adds / target)"): [
        "branch", "attainment",
    ],
    ("business-overview.json", "Quality components by branch (0–1, averaged over employees)"): [
        "branch", "customer_match", "engagement", "retention", "responsiveness", "personal_touch",
    ],
    ("business-overview.json", "Teams"): [
        "branch", "team", "employees", "target", "valid_adds", "pending_adds",
        "profile_unknown_adds", "unverified_adds", "inherited_adds", "removed_adds",
        "attainment", "on_track", "behind", "met", "missed", "quality_score", "anomaly_score",
        "flagged",
    ],
    ("business-overview.json", "Anomaly leaderboard"): [
        "employee_id", "employee_name", "branch", "team", "anomaly_score", "flagged",
        "valid_adds", "gross_adds", "reasons",
    ],
    ("business-overview.json", "Contact adds per day"): ["time", "metric", "adds"],
    ("business-overview.json", "Alert log"): [
        "time", "alertname", "status", "employee_id", "team", "branch", "period", "summary",
        "channel", "recipient", "notice_state", "sent_at", "acknowledged_at", "resolved_at",
        "escalation_level",
    ],
    ("business-overview.json", "Audit log"): [
        "time", "actor", "role", "employee_id", "action", "target", "request_id",
    ],
    ("employee-drilldown.json", "Period figures"): [
        "target", "valid_adds", "gross_adds", "pending_adds", "removed_adds", "new_to_bank",
        "attainment", "pace", "projection", "status", "quality_score", "anomaly_score",
        "profile_unknown_adds", "unverified_adds", "inherited_adds",
    ],
    ("employee-drilldown.json", "Quality components (0–1)"): ["component", "value"],
    ("employee-drilldown.json", "Anomaly reasons"): ["reason", "contribution", "evidence"],
    ("employee-drilldown.json", "History over periods of the same kind"): [
        "period", "target", "valid_adds", "attainment", "status", "quality_score",
        "anomaly_score", "flagged", "closed",
    ],
    ("employee-drilldown.json", "Adds and removals per day"): ["time", "adds", "removals"],
    ("employee-drilldown.json", "Alerts about this employee"): [
        "time", "alertname", "status", "period", "summary", "channel", "recipient",
        "notice_state", "sent_at", "acknowledged_at", "resolved_at",
    ],
    ("employee-drilldown.json", "Newest contacts"): [
        "external_userid", "first_added_at", "add_way", "state", "customer_msgs",
        "one_to_one_msgs", "is_customer", "customer_tier", "new_to_bank",
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Closed:
    """The audited action of the traffic: a forced close, by whom and under which request id."""

    period: str
    actor: str
    request_id: str


@dataclass
class Live:
    prometheus: str
    reader_dsn: str
    started: datetime  # by the clock the services run on
    clock: Clock
    closed: Closed
    problems: list[str] = field(default_factory=list)


def _prometheus(action: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "local" / "prometheus.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _reader_dsn(infra: Infra, database: str) -> str:
    """The admin DSN pointed at the test database; queries then run under SET ROLE wq_reader."""
    parts = urlsplit(infra.admin_dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _change_xml(user: str, external: str, at: datetime) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{WECOM.corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[{user}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID></xml>"
    )


async def _traffic(
    infra: Infra,
    base: dict[str, str],
    topics: dict[str, str],
    sink: Any,
    clock: Clock,
    admin: dict[str, str],
) -> str:
    """Sends the traffic; returns the day it closes (with `admin`, forced)."""
    now = clock().astimezone(SHANGHAI)
    wecom = WeComClient(WECOM.token, WECOM.encoding_aes_key, WECOM.corp_id, clock)
    # A working day (daily targets apply to working days only) whose adds are past the 7-day
    # retention window, so closing it decides outcomes.
    working = BusinessCalendar(tz=SHANGHAI).is_working_day
    back = next(d for d in range(10, 30) if working((now - timedelta(days=d)).date()))
    day = (now - timedelta(days=back)).date().isoformat()
    month = now.strftime("%Y-%m")
    # The dashboards open on the newest month: it has an anomaly of its own even when it began
    # minutes ago (quick deletes within the last half hour, all on today's date).
    recent = [now - timedelta(minutes=m) for m in (25, 20, 15, 10, 5)]
    records = [
        f.employee("m1", team_id="t1", branch_id="b1", supervisor_id="lead9"),
        f.employee("m2", team_id="t2", branch_id="b1", supervisor_id="lead9"),
        f.employee("m3", team_id="t3", branch_id="b2", supervisor_id="lead8"),
        f.target("employee", "m1", day, 5),
        f.target("branch", "b1", month, 20),
        f.target("branch", "b2", month, 10),
        f.add("m1", "wo-a", f.at(day)),
        f.add("m1", "wo-b", f.at(day, 11)),
        f.add("m2", "wo-c", f.at(day)),
        f.add("m3", "wo-d", recent[1]),
        *(f.add("m1", c, recent[0]) for c in ("wo-i", "wo-j", "wo-k")),
        *(
            {**f.add("m1", c, recent[2]), "ChangeType": "del_follow_user"}
            for c in ("wo-i", "wo-j", "wo-k")
        ),
        # m1's three quick deletes give an anomaly with a reason (QUICK_DELETE)
        *(f.add("m1", c, f.at(day, 13)) for c in ("wo-e", "wo-f", "wo-g")),
        *(
            {**f.add("m1", c, f.at(day, 15)), "ChangeType": "del_follow_user"}
            for c in ("wo-e", "wo-f", "wo-g")
        ),
    ]
    async with httpx.AsyncClient(timeout=30) as http:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
        body = b"\n".join(orjson.dumps(x) for x in records)
        r = await http.post(f"{base['ingestor']}/v1/events", content=body, headers=headers)
        assert r.status_code == 200, r.text
        bad = await http.post(f"{base['ingestor']}/v1/events", content=b"{", headers=headers)
        assert bad.status_code == 422, bad.text
        # WeCom's own path: a signed, encrypted callback, and one with a forged signature
        callback = wecom.callback(_change_xml("m2", "wo-h", recent[3]))
        url = f"{base['ingestor']}/wecom/callback"
        r = await http.post(url, params=callback.params, content=callback.body)
        assert r.status_code == 200 and r.text == "success", r.text
        forged = dict(callback.params, msg_signature="f" * 40)
        assert (await http.post(url, params=forged, content=callback.body)).status_code == 403

        async def scored() -> list[dict[str, Any]]:
            got = await http.get(f"{base['scorer']}/v1/scores?period={day}", headers=admin)
            return list(got.json()["employees"])

        await eventually(scored, lambda e: any(x["employee_id"] == "m1" for x in e), timeout=60)
        closed = await http.post(
            f"{base['scorer']}/v1/periods/{day}/close?force=true",
            headers={**admin, "X-Request-ID": f"dashboards-close-{day}"},
        )
        assert closed.status_code == 200, closed.text
    await sink.wait_for(1, timeout=60)
    # Undecodable records: each consumer sends one to its dead-letter topic.
    await produce(infra, topics["TOPIC_CONTACT_EVENTS"], [b"not json"])
    await produce(infra, topics["TOPIC_BREACHES"], [b"not json"])
    return day


@pytest.fixture(scope="module", params=AS_OF)
async def live(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Live]:
    """The stack as of each instant of AS_OF (the services' clocks shifted together)."""
    offset = offset_to(request.param)
    clock = shifted_clock(offset)
    logs = tmp_path_factory.mktemp("dashboards")
    suffix = unique("dash")
    database = await create_database(infra)
    ports = {name: free_port() for name in ("prometheus", "nobody", *SERVICES)}
    topics = {
        "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
        "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
        "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
        "TOPIC_RAW_CALLBACKS": f"wecom.raw-events.{suffix}",
    }
    prom_env = {
        **os.environ,
        "RUN_DIR": str(logs / "run"),
        "PROMETHEUS_PORT": str(ports["prometheus"]),
        "PROMETHEUS_SCRAPE_INTERVAL": "1s",
        # its alerts (the poison records fire DeadLetters) to a port nobody listens on, never
        # to a `make up` Alertmanager on 9093 (and on to someone's ops inbox)
        "ALERTMANAGER_PORT": str(ports["nobody"]),
        "INGESTOR_PORT": str(ports["ingestor"]),
        "SCORER_PORT": str(ports["scorer"]),
        "SCORER_CONSUME_PORT": str(ports["scorer-consume"]),
        "SCORER_REFRESH_PORT": str(ports["scorer-refresh"]),
        "NOTIFIER_PORT": str(ports["notifier"]),
    }
    started = clock()
    async with AsyncExitStack() as stack:
        sink = await stack.enter_async_context(webhook_sink())
        env = {
            **os.environ,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "DATABASE_URL": infra.app_dsn(database),
            "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
            "INGEST_API_TOKENS": TOKEN,
            "WECOM_CORP_ID": WECOM.corp_id,
            "WECOM_CALLBACK_TOKEN": WECOM.token,
            "WECOM_CALLBACK_AES_KEY": WECOM.encoding_aes_key,
            "NOTIFIER_WEBHOOK_URL": sink.url,
            "SCORER_GROUP_ID": f"scorer-{suffix}",
            "NOTIFIER_GROUP_ID": f"notifier-{suffix}",
            "METRICS_PROBE_INTERVAL_SECONDS": "1",
            "CLOCK_OFFSET_SECONDS": str(offset),
            "INGESTOR_PORT": str(ports["ingestor"]),
            "SCORER_PORT": str(ports["scorer"]),
            "NOTIFIER_PORT": str(ports["notifier"]),
        }
        base = {
            name: await stack.enter_async_context(
                service_process(
                    name, {**env, **SERVICES[name], **_port(name, ports)}, ports[name], logs
                )
            )
            for name in SERVICES
        }
        _prometheus("up", prom_env)
        stack.callback(_prometheus, "down", prom_env)
        actor = f"dashboards-admin-{suffix}"
        admin = bearer(await issue(infra.app_dsn(database), actor, Role.ADMIN))
        day = await _traffic(infra, base, topics, sink, clock, admin)
        # the quota columns are current at once; quality and anomaly once the refresh process
        # has recomputed every marked row
        owner = await asyncpg.connect(infra.owner_dsn(database))
        try:
            dirty = "SELECT count(*) FROM score_dirty"
            try:
                await eventually(lambda: owner.fetchval(dirty), lambda n: n == 0, timeout=90)
            except AssertionError as e:
                raise AssertionError(f"{e}\n{await _why_dirty(owner, logs)}") from None
        finally:
            await owner.close()
        closed = Closed(day, actor, f"dashboards-close-{day}")
        prometheus = f"http://127.0.0.1:{ports['prometheus']}"
        yield Live(prometheus, _reader_dsn(infra, database), started, clock, closed)
    await drop_database(infra, database)


SERVICES = MAKE_UP_PROCESSES


async def _why_dirty(owner: asyncpg.Connection, logs: Path) -> str:
    """What a failure to bring every score current needs to be understood: the rows left,
    their marks and claims against the database's clock, and the scorer processes' logs."""
    rows = await owner.fetch(
        """SELECT employee_id, period, deferrals,
                  round(extract(epoch FROM clock_timestamp() - marked_at)::numeric, 1) AS marked,
                  round(extract(epoch FROM clock_timestamp() - claimed_at)::numeric, 1) AS claimed
             FROM score_dirty ORDER BY 1, 2"""
    )
    left = "\n".join(
        f"  {r['employee_id']} {r['period']}: marked {r['marked']} s ago, claimed "
        f"{r['claimed']} s ago, deferred {r['deferrals']}x"
        for r in rows
    )
    tails = "\n".join(
        f"--- {log.name} (last 40 lines)\n"
        + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        for log in sorted(logs.glob("scorer*.log"))
    )
    return f"rows still dirty (seconds before now):\n{left}\n{tails}"


def _port(name: str, ports: dict[str, int]) -> dict[str, str]:
    return {"SCORER_PORT": str(ports[name])} if name.startswith("scorer") else {}


def _promql() -> dict[str, str]:
    """Every expression to run, named by where it comes from. Alerts contribute their figure
    (which must return data) and their whole expression (which must evaluate)."""
    found = {
        f"{t.dashboard} · {t.panel} · {t.query}": t.query
        for t in grafana.targets()
        if t.datasource_uid == "prometheus"
    }
    for rule in grafana.rules():
        expr = " ".join(rule["expr"].split())
        if "record" in rule:
            found[f"record {rule['record']}"] = expr
        else:
            m = grafana.ALERT_FORM.match(expr)
            assert m, rule["alert"]
            found[f"alert {rule['alert']} figure"] = m["figure"]
    return found


async def test_every_promql_expression_returns_data(live: Live) -> None:
    exprs = _promql()
    assert len(exprs) >= 30
    async with httpx.AsyncClient(base_url=live.prometheus, timeout=10) as http:

        async def query(expr: str) -> dict[str, Any]:
            r = await http.get("/api/v1/query", params={"query": expr})
            body: dict[str, Any] = r.json()
            assert body["status"] == "success", (expr, body)
            return body

        async def empty() -> list[str]:
            return [name for name, e in exprs.items() if not (await query(e))["data"]["result"]]

        left = await eventually(empty, lambda names: not names, timeout=90)
        assert not left
        for rule in grafana.rules():  # whole alert expressions evaluate (empty while healthy)
            if "alert" in rule:
                await query(" ".join(rule["expr"].split()))
        targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
        health: dict[str, list[str]] = {}
        for t in targets:
            health.setdefault(t["labels"]["job"], []).append(t["health"])
        assert health == {
            "ingestor": ["up"],
            "scorer": ["up", "up", "up"],  # the read API, the consumer, the refresh
            "notifier": ["up"],
            "prometheus": ["up"],
        }


async def _variable_values(
    conn: asyncpg.Connection, dashboard: dict[str, Any], start: datetime, end: datetime
) -> tuple[dict[str, list[str]], set[str]]:
    values: dict[str, list[str]] = {}
    multi: set[str] = set()
    for v in dashboard.get("templating", {}).get("list", []):
        sql = grafana.expand_sql(v["query"], values, multi, start, end)
        rows = await conn.fetch(sql)
        assert rows, f"variable {v['name']} has no value: {sql}"
        column = "__value" if "__value" in rows[0] else next(iter(rows[0].keys()))
        if v.get("multi") or v.get("includeAll"):
            multi.add(v["name"])
            values[v["name"]] = [str(r[column]) for r in rows]
        else:
            values[v["name"]] = [str(rows[0][column])]
    return values, multi


async def test_every_sql_panel_runs_read_only_with_its_columns(live: Live) -> None:
    start, end = live.started - timedelta(days=90), live.clock() + timedelta(hours=1)
    conn = await asyncpg.connect(live.reader_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader'"):
            pytest.skip("this database server has no wq_reader role (deploy/postgres/roles.sql)")
        await conn.execute("SET ROLE wq_reader")
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        checked = set()
        for name, dashboard in grafana.dashboards().items():
            values, multi = await _variable_values(conn, dashboard, start, end)
            if "period" in values:  # the period a dashboard opens on is the newest month
                assert re.fullmatch(r"\d{4}-\d{2}", values["period"][0]), values["period"]
            for t in grafana.targets():
                if t.dashboard != name or t.datasource_uid != "wq-postgres":
                    continue
                sql = grafana.expand_sql(t.query, values, multi, start, end)
                statement = await conn.prepare(sql)
                columns = [a.name for a in statement.get_attributes()]
                assert columns == EXPECTED_COLUMNS[(name, t.panel)], (t.panel, columns)
                if t.fmt == "time_series":
                    assert columns[0] == "time", t.panel
                rows = await statement.fetch()
                assert rows, f"{t.panel}: no row for {values}\n{sql}"
                checked.add((name, t.panel))
        assert checked == set(EXPECTED_COLUMNS)
        # The role itself cannot write, even in a read-write transaction.
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM employee")
    finally:
        await conn.close()


async def test_the_audit_panel_shows_the_audited_close(live: Live) -> None:
    """The forced close of the traffic, read by the dashboards' role through the panel's own
    query: who (the token's name), role, action, target, request id; nothing before/after."""
    (panel,) = [
        t
        for t in grafana.targets()
        if (t.dashboard, t.panel) == ("business-overview.json", "Audit log")
    ]
    start, end = live.started - timedelta(days=90), live.clock() + timedelta(hours=1)
    sql = grafana.expand_sql(panel.query, {}, set(), start, end)
    conn = await asyncpg.connect(live.reader_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader'"):
            pytest.skip("this database server has no wq_reader role (deploy/postgres/roles.sql)")
        await conn.execute("SET ROLE wq_reader")
        rows = [dict(r) for r in await conn.fetch(sql)]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT before, after FROM audit_log")
    finally:
        await conn.close()
    closes = [r for r in rows if r["action"] == "period.close_forced"]
    assert len(closes) == 1, rows
    (close,) = closes
    assert close["actor"] == live.closed.actor
    assert close["role"] == "admin" and close["employee_id"] is None
    assert close["target"] == live.closed.period
    assert close["request_id"] == live.closed.request_id
    assert live.started - timedelta(minutes=1) <= close["time"] <= live.clock()
