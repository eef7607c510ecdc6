"""Secrets never reach a log line or an error body; database roles have least privilege; no
column could hold chat content or a customer's phone number.

The secrets test runs the ingestor and the scorer as processes with known secret values and
provokes every refusal and failure that could echo one: wrong and near-miss bearer tokens,
forged signatures, undecryptable ciphertext, a WeCom API that cannot be reached (its URL
carries `corpsecret=`), a database password that is refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.settings import Topics
from tests.apps import eventually
from tests.infra import Infra, unique
from tests.integration.test_ingestor_callback import change_xml
from tests.processes import Service
from tests.standins.webhook_sink import free_port
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration

CORP_ID = "ww0123456789abcdef"
CALLBACK_TOKEN = "CbTok7Qz81PmX2w"
INGEST_TOKEN = "ingest-Vq93kLm20xTz8RbW4nYc"
CORP_SECRET = "corpSecret-Hd82nQ0pLz7xW3mK5vB9"
DB_PASSWORD = "dbPass-Zx81Lq0Mw7Nv3Kb2"


def metric(text: str, name: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name))


async def test_secrets_never_in_logs_or_error_bodies(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    aes_key = random_aes_key()
    secrets = [CALLBACK_TOKEN, aes_key, INGEST_TOKEN, CORP_SECRET, DB_PASSWORD]
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "TOPIC_CONTACT_EVENTS": topics.contact_events,
        "TOPIC_BANK_RECORDS": topics.bank_records,
        "TOPIC_RAW_CALLBACKS": topics.raw_callbacks,
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_CALLBACK_TOKEN": CALLBACK_TOKEN,
        "WECOM_CALLBACK_AES_KEY": aes_key,
        "WECOM_CORP_SECRET": CORP_SECRET,
        "WECOM_API_BASE": f"http://127.0.0.1:{free_port()}",  # nobody listens: enrichment fails
        "WECOM_BREAKER_FAILURES": "100",
        "INGEST_API_TOKENS": INGEST_TOKEN,
        "SPOOL_DIR": str(tmp_path / "spool"),
        "INGESTOR_PORT": str(port),
        "LOG_LEVEL": "DEBUG",
    }
    env.pop("NOTIFIER_CONFIG", None)
    ingestor = Service("services.ingestor", env, tmp_path / "ingestor.log").start()
    wecom = WeComClient(CALLBACK_TOKEN, aes_key, CORP_ID)
    forger = WeComClient(CALLBACK_TOKEN, random_aes_key(), CORP_ID)
    bodies: list[str] = []
    try:
        await ingestor.ready(port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def call(method: str, url: str, **kw: object) -> None:
                answer = await http.request(method, url, **kw)  # type: ignore[arg-type]
                bodies.append(f"{answer.status_code} {answer.headers} {answer.text}")

            events = "/v1/events"
            for token in ("none", "wrong", INGEST_TOKEN[:-1], INGEST_TOKEN + "x"):
                await call("POST", events, headers={"authorization": f"Bearer {token}"})
            auth = {"authorization": f"Bearer {INGEST_TOKEN}"}
            await call("POST", events, headers=auth, content=b"{not json")
            await call("POST", events, headers=auth, json=[{"type": "employee"}])
            message = change_xml("add_external_contact", "m01", "wmSECRET", 1_760_000_000)
            good = wecom.callback(message)
            forged = dict(good.params, msg_signature="0" * 40)
            await call("POST", "/wecom/callback", params=forged, content=good.body)
            wrong_key = forger.callback(message)  # signed right, encrypted with another key
            await call("POST", "/wecom/callback", params=wrong_key.params, content=wrong_key.body)
            verify = wecom.url_verification()
            await call("GET", "/wecom/callback", params=dict(verify.params, echostr="AAAA"))
            await call("GET", "/readyz")
            await call("POST", "/wecom/callback", params=good.params, content=good.body)

            async def api_errors() -> float:
                text = (await http.get("/metrics")).text
                return metric(text, "ingestor_wecom_api_errors_total")

            await eventually(api_errors, lambda n: n >= 1, timeout=30)  # enrichment failed
    finally:
        ingestor.stop()

    scorer_port = free_port()
    wrong_dsn = infra.app_dsn(database).replace("@", f":{DB_PASSWORD}@", 1)
    if "://wq_app:" in infra.app_dsn(database):  # the DSN has a password: replace it
        user, rest = infra.app_dsn(database).split("://", 1)[1].split(":", 1)
        wrong_dsn = f"postgresql://{user}:{DB_PASSWORD}@{rest.split('@', 1)[1]}"
    scorer_env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": wrong_dsn,
        "DATABASE_MIGRATION_URL": wrong_dsn,
        "SCORER_GROUP_ID": unique("scorer"),
        "SCORER_PORT": str(scorer_port),
    }
    scorer = Service("services.scorer", scorer_env, tmp_path / "scorer.log").start()
    try:
        assert scorer.proc is not None
        await asyncio.to_thread(scorer.proc.wait, 60)  # refused by PostgreSQL, it exits
    finally:
        scorer.stop()

    ingestor_log = ingestor.log.read_text(errors="replace")
    scorer_log = scorer.log.read_text(errors="replace")
    assert "wmSECRET" in ingestor_log or "refused WeCom callback" in ingestor_log  # logs exist
    assert "password authentication failed" in scorer_log or "InvalidPassword" in scorer_log
    for secret in secrets:
        assert secret not in ingestor_log
        assert secret not in scorer_log
        assert all(secret not in body for body in bodies)


def reader_dsn(infra: Infra, database: str) -> str:
    if infra.local is None:
        pytest.skip("the reader role is the local stack's (deploy/postgres/roles.sql)")
    env = dict(
        line.split("=", 1)
        for line in infra.local.script("postgres.sh", "env").splitlines()
        if "=" in line
    )
    return env["DATABASE_READER_URL"].rsplit("/", 1)[0] + f"/{database}"


async def refused(conn: asyncpg.Connection, sql: str) -> bool:
    try:
        await conn.execute(sql)
    except asyncpg.InsufficientPrivilegeError:
        return True
    return False


async def test_database_roles_have_least_privilege(infra: Infra, database: str) -> None:
    reader = await asyncpg.connect(reader_dsn(infra, database))
    try:
        assert await reader.fetchval("SELECT count(*) FROM employee_period_score") >= 0
        # the audit log through its view only: who, role, what, when; never before/after
        assert await reader.fetchval("SELECT count(*) FROM v_audit_recent") >= 0
        columns = await reader.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'v_audit_recent' ORDER BY ordinal_position"
        )
        assert [c["column_name"] for c in columns] == [
            "audit_id", "at", "actor", "role", "employee_id", "action", "target", "request_id",
        ]  # fmt: skip
        for sql in (
            "INSERT INTO score_dirty (employee_id, period) VALUES ('x', '2026-10')",
            "UPDATE employee SET name = 'x'",
            "DELETE FROM contact",
            "TRUNCATE contact_event",
            "CREATE TABLE sneaky (x int)",
            "DROP TABLE contact",
            "SELECT * FROM api_token",  # token hashes and the audit log: not for dashboards
            "SELECT * FROM audit_log",
            "SELECT * FROM employee_robot",  # robot webhook URLs (sealed or not yet)
            "SELECT * FROM notice_outbox",  # webhook URLs name their notices
            "SELECT * FROM notice_digest",
            "SELECT * FROM erased_contact",  # the erasure list and what it carries: services'
            "SELECT * FROM erasure_carry",
            "SELECT * FROM purged_period",
            "SELECT * FROM contact_governance",
            "INSERT INTO v_audit_recent (actor, role, action, target) VALUES ('x', 'x', 'x', 'x')",
        ):
            assert await refused(reader, sql), f"the reader role may: {sql}"
    finally:
        await reader.close()

    app = await asyncpg.connect(infra.app_dsn(database))
    try:
        await app.execute("INSERT INTO score_dirty (employee_id, period) VALUES ('x', '2026-10')")
        await app.execute("DELETE FROM score_dirty")
        for sql in (
            "CREATE TABLE sneaky (x int)",
            "ALTER TABLE contact ADD COLUMN sneaky int",
            "DROP TABLE contact",
            "TRUNCATE contact_event",
            "CREATE INDEX sneaky ON contact (first_added_at)",
            "DROP TABLE schema_migration",
            # the audit log's view is read-only too (the log itself: test_access.py)
            "INSERT INTO v_audit_recent (actor, role, action, target) VALUES ('x', 'x', 'x', 'x')",
            "DELETE FROM v_audit_recent",
        ):
            assert await refused(app, sql), f"the application role may: {sql}"
    finally:
        await app.close()


async def test_no_column_can_hold_chat_content_or_a_customers_personal_data(
    infra: Infra, database: str
) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert len(columns) > 50
    forbidden = {"content", "text", "body", "message_text", "msg", "phone", "mobile", "mobiles"}
    forbidden |= {"remark_mobiles", "avatar", "remark", "gender", "customer_name"}
    found = [
        f"{c['table_name']}.{c['column_name']}"
        for c in columns
        if c["column_name"] in forbidden or "phone" in c["column_name"]
    ]
    assert found == []
    message = {c["column_name"] for c in columns if c["table_name"] == "message"}
    assert message and message <= {
        "message_id",
        "employee_id",
        "external_userid",
        "direction",
        "kind",
        "sent_at",
        "event_id",
        "received_at",
    }, message
