"""The HTML report against a database filled through the real pipeline: records into the
ingestor, scored by the scorer, a period closed, alerts delivered by the notifier to a real
webhook receiver; then `python -m tools.report` as a process, and its figures compared with
the views'."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.ingestor.app import create_app as ingestor_app
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import ROOT, Infra, unique
from tests.integration.test_slice import AUTH, db_settings, ingestor_settings
from tests.standins.webhook_sink import webhook_sink

pytestmark = pytest.mark.integration
PERIOD = "2026-10"


def records() -> list[dict[str, Any]]:
    peers = [f"wm-peer-{i}" for i in range(4)]
    customers = [
        *[f.add("e1", f"wo-{i}", f.at("2026-10-12")) for i in range(3)],
        *[f.add("e2", f"wo-{i}", f.at(f"2026-10-{13 + i}")) for i in range(12)],
        f.add("e3", "wo-e3", f.at("2026-10-14")),
        *[f.add("e4", f"wo-e4-{i}", f.at("2026-10-15")) for i in range(2)],
    ]
    return [
        f.employee("e1", name="张三 <b>&"),
        f.employee("e2"),
        f.employee("e3", team_id="t2"),
        f.employee("e4", team_id="t3", branch_id="b2"),  # another branch: not in b1's report
        f.target("team", "t1", PERIOD, 10),
        f.target("employee", "e2", PERIOD, 12),
        f.target("branch", "b1", PERIOD, 20),
        f.target("branch", "b2", PERIOD, 5),
        # four WeCom users of other banks: not valid adds, and an anomaly with its reasons
        *[
            {
                "type": "contact_profile",
                "external_userid": p,
                "contact_type": 2,
                "corp_name": "某某银行",
            }
            for p in peers
        ],
        *[f.add("e1", p, f.at("2026-10-09")) for p in peers],
        *customers,
        *f.profiles_for(customers),  # plain WeChat users: valid once known
    ]


def rows(page: str, attr: str) -> dict[str, dict[str, str]]:
    """Per table row carrying `attr`: its data-k cells' text."""
    found = {}
    for key, body in re.findall(rf'<tr {attr}="([^"]+)">(.*?)</tr>', page, re.S):
        found[key] = dict(re.findall(r'<td data-k="([^"]+)"[^>]*>([^<]*)</td>', body))
    return found


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


async def fill(infra: Infra, topics: Topics, database: str) -> None:
    db = db_settings(infra, database)
    scorer_cfg = ScorerSettings(topics=topics, scorer_group_id=unique("scorer"), **db)
    async with webhook_sink() as sink:
        notifier_cfg = NotifierSettings(
            topics=topics,
            notifier_group_id=unique("notifier"),
            notifier_webhook_url=sink.url,
            **db,
        )
        async with (
            running(ingestor_app(ingestor_settings(infra, topics))) as ingestor,
            running(scorer_app(scorer_cfg)) as scorer,
            running(notifier_app(notifier_cfg)) as notifier,
        ):
            body = b"\n".join(orjson.dumps(r) for r in records())
            headers = {**AUTH, "Content-Type": "application/x-ndjson"}
            r = await ingestor.post("/v1/events", content=body, headers=headers)
            assert r.status_code == 200, r.text

            async def valid() -> dict[str, tuple[int, int]]:
                scores = (await scorer.get("/v1/scores", params={"period": PERIOD})).json()
                return {
                    e["employee_id"]: (e["gross_adds"], e["valid_adds"])
                    for e in scores["employees"]
                }

            # every add and every profile applied (a forced close takes what is there: the
            # profiles travel on another topic than the adds and may come later)
            final = {"e1": (7, 3), "e2": (12, 12), "e3": (1, 1)}
            await eventually(valid, lambda v: {k: v.get(k) for k in final} == final, timeout=120)
            assert (await scorer.post(f"/v1/periods/{PERIOD}/close?force=true")).status_code == 200

            async def b1_alerts() -> list[dict[str, Any]]:
                alerts = (await notifier.get("/v1/alerts")).json()["alerts"]
                return [a for a in alerts if a["branch_id"] == "b1" and a["period"] == PERIOD]

            def delivered(alerts: list[dict[str, Any]]) -> bool:
                missed = {a["employee_id"] for a in alerts if a["alertname"] == "TargetMissed"}
                return missed == {"e1", "e3"} and all(
                    n["state"] == "sent" for a in alerts for n in a["notices"]
                )

            await eventually(b1_alerts, delivered, timeout=120)


async def test_report_shows_the_views_figures(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    await fill(infra, topics, database)
    dsn = infra.app_dsn(database)
    out = tmp_path / "b1.html"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.report",
        "--period",
        PERIOD,
        "--branch",
        "b1",
        "--out",
        str(out),
        "--database-url",
        dsn,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert "3 employees" in stdout.decode()
    page = out.read_text(encoding="utf-8")

    conn = await asyncpg.connect(dsn)
    try:
        teams = await conn.fetch(
            "SELECT * FROM v_team_period_summary WHERE period = $1 AND branch_id = 'b1'", PERIOD
        )
        employees = await conn.fetch(
            "SELECT * FROM v_employee_period_scores WHERE period = $1 AND branch_id = 'b1'", PERIOD
        )
        sent = await conn.fetchval(
            "SELECT count(*) FROM v_alert_log WHERE period = $1 AND branch_id = 'b1'"
            " AND notice_state = 'sent'",
            PERIOD,
        )
        alert_ids = await conn.fetch(
            "SELECT DISTINCT alert_id FROM v_alert_log WHERE period = $1 AND branch_id = 'b1'",
            PERIOD,
        )
    finally:
        await conn.close()

    shown_teams = rows(page, "data-team")
    assert set(shown_teams) == {t["team_id"] for t in teams} == {"t1", "t2"}
    for t in teams:
        shown = shown_teams[t["team_id"]]
        for k in ("employees", "target", "valid_adds", "pending_adds", "removed_adds"):
            assert shown[k] == f"{t[k]:,}", (t["team_id"], k)
        for k in ("on_track", "behind", "met", "missed", "flagged"):
            assert shown[k] == str(t[k]), (t["team_id"], k)
        assert shown["attainment"] == pct(t["attainment"])

    shown_employees = rows(page, "data-employee")
    assert set(shown_employees) == {e["employee_id"] for e in employees} == {"e1", "e2", "e3"}
    for e in employees:
        shown = shown_employees[e["employee_id"]]
        assert shown["valid_adds"] == str(e["valid_adds"])
        assert shown["target"] == str(e["target"])
        assert shown["attainment"] == pct(e["attainment"])
        assert shown["status"] == e["status"].replace("_", " ")
        assert shown["anomaly_score"] == f"{e['anomaly_score']:.1f}"
    by_id = {e["employee_id"]: e for e in employees}
    assert (by_id["e1"]["valid_adds"], by_id["e1"]["status"]) == (3, "missed")  # peers invalid
    assert by_id["e2"]["status"] == "met"

    # the leaderboard: e1's peer-bank contacts, with the reason and its evidence
    e1 = by_id["e1"]
    assert e1["flagged"]
    assert rows(page, "data-anomaly")["e1"]["anomaly_score"] == f"{e1['anomaly_score']:.1f}"
    codes = [r["code"] for r in orjson.loads(e1["reasons"])]
    assert "PEER_INSTITUTION" in codes
    assert "PEER_INSTITUTION</b>" in page and "某某银行" in page

    assert set(rows(page, "data-alert")) == {str(r["alert_id"]) for r in alert_ids}
    assert sent >= 2
    assert f'data-tile="alert notices sent"><b>{sent}</b>' in page
    total_valid = sum(t["valid_adds"] for t in teams)
    assert f'data-tile="valid adds"><b>{total_valid}</b>' in page

    # fit for e-mail: escaped, nothing fetched from elsewhere, charts embedded
    assert "张三 &lt;b&gt;&amp;" in page and "<b>&" not in page
    assert "<script" not in page and not re.search(r'(src|href)="(?!data:)', page)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "e4" not in set(rows(page, "data-employee"))  # another branch
