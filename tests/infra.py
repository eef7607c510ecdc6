"""The one place that decides where the tests' Kafka and PostgreSQL come from:

1. `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` set → used as they are (the database role needs
   CREATEDB: every test gets a database of its own);
2. a Docker engine answers → testcontainers;
3. otherwise the local stack of deploy/local/, started for the test session on its own ports and
   folder (.run/test), so it never touches a `make up` stack, and stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stack_dir() -> Path:
    """Overridable, so that two runs (the tests and `make eval`) have stacks of their own."""
    return Path(os.environ.get("WQ_STACK_DIR", ROOT / ".run" / "test"))


def stack_ports() -> dict[str, int]:
    return LocalStack.from_env().ports()


@dataclass(frozen=True)
class LocalStack:
    """One Kafka and one PostgreSQL of deploy/local/, in a folder of their own, on ports from a
    base: the scripts that start, stop and restart them (fault tests restart them at will)."""

    dir: Path
    base_port: int

    @classmethod
    def from_env(cls) -> LocalStack:
        return cls(stack_dir(), int(os.environ.get("WQ_STACK_BASE_PORT", "19092")))

    def ports(self) -> dict[str, int]:
        base = self.base_port
        # Every port stays below Linux's ephemeral range (32768-60999): a port in it can be
        # held for a moment by any outgoing connection, and PostgreSQL then cannot bind it.
        return {"kafka": base, "controller": base + 1, "postgres": base + 50}

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RUN_DIR": str(self.dir),
            "KAFKA_BROKERS": "1",  # one node, whatever the shell says (`make up` may use 3)
            "LOCAL_KAFKA_PORT": str(self.ports()["kafka"]),
            "LOCAL_KAFKA_CONTROLLER_PORT": str(self.ports()["controller"]),
            "LOCAL_PG_PORT": str(self.ports()["postgres"]),
        }

    def script(self, name: str, action: str) -> str:
        """Run deploy/local/<name> <action> (`kafka.sh up`, `postgres.sh down`, ...)."""
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / name), action],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{name} {action} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def postgres_dsns(self) -> tuple[str, str, str]:
        creds = dict(
            line.split("=", 1)
            for line in self.script("postgres.sh", "env").splitlines()
            if "=" in line
        )
        socket = creds["PG_SOCKET_DIR"]  # short, whatever the checkout's path (postgres.sh)
        admin = f"postgresql://postgres@/postgres?host={socket}&port={self.ports()['postgres']}"
        owner = creds["DATABASE_MIGRATION_URL"].rsplit("/", 1)[0] + "/{database}"
        app = creds["DATABASE_URL"].rsplit("/", 1)[0] + "/{database}"
        return admin, owner, app


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    admin_dsn: str  # may create databases
    owner_role: str  # migrations run as this role
    owner_dsn_template: str  # format with database=...
    app_dsn_template: str
    local: LocalStack | None = None  # set when the stack is ours to stop and restart

    def owner_dsn(self, database: str) -> str:
        return self.owner_dsn_template.format(database=database)

    def app_dsn(self, database: str) -> str:
        return self.app_dsn_template.format(database=database)


def _docker_engine() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def provide_infra(own: LocalStack | None = None) -> Iterator[Infra]:
    """With `own`, always that local stack (fault tests stop and restart it); otherwise the
    environment's services, testcontainers or the default local stack, in that order."""
    kafka_env = None if own else os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    db_env = None if own else os.environ.get("DATABASE_URL")
    docker = False if own else _docker_engine()
    local = own or LocalStack.from_env()
    started: list[str] = []
    containers: list[object] = []
    try:
        if kafka_env:
            kafka = kafka_env
        elif docker:
            from testcontainers.kafka import KafkaContainer

            kc = KafkaContainer("apache/kafka:4.1.1").with_kraft()
            kc.start()
            containers.append(kc)
            kafka = kc.get_bootstrap_server()
        else:
            local.script("kafka.sh", "up")
            started.append("kafka.sh")
            kafka = f"localhost:{local.ports()['kafka']}"

        if db_env:
            base = db_env.rsplit("/", 1)[0]
            admin, owner, app = db_env, base + "/{database}", base + "/{database}"
        elif docker:
            from testcontainers.postgres import PostgresContainer

            pc = PostgresContainer("postgres:16", driver=None)
            pc.start()
            containers.append(pc)
            admin = pc.get_connection_url()
            base = admin.rsplit("/", 1)[0]
            owner = app = base + "/{database}"
        else:
            local.script("postgres.sh", "up")
            started.append("postgres.sh")
            admin, owner, app = local.postgres_dsns()
        owner_role = owner.split("://", 1)[1].split(":", 1)[0].split("@", 1)[0]
        ours = local if len(started) == 2 else None
        yield Infra(kafka, admin, owner_role, owner, app, ours)
    finally:
        if os.environ.get("KEEP_TEST_STACK") != "1":
            for script in reversed(started):
                local.script(script, "down")
        for container in containers:
            container.stop()  # type: ignore[attr-defined]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


SCHEMA_GRANTS = ROOT / "deploy" / "postgres" / "schema_grants.sql"


async def create_database(infra: Infra, template: str | None = None) -> str:
    """A fresh database owned by the schema owner, migrated, with the app/reader grants."""
    import asyncpg

    from shared.db import apply_migrations

    name = unique("test")
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        source = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{infra.owner_role}"{source}')
    finally:
        await admin.close()
    if template:
        return name
    owner = await asyncpg.connect(infra.owner_dsn(name))
    try:
        roles = "SELECT count(*) FROM pg_roles WHERE rolname IN ('wq_app', 'wq_reader')"
        if await owner.fetchval(roles) == 2:
            await owner.execute(SCHEMA_GRANTS.read_text())
    finally:
        await owner.close()
    await apply_migrations(infra.owner_dsn(name))
    return name


async def drop_database(infra: Infra, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
