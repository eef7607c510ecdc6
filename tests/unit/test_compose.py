"""docker-compose.yml is a valid Compose file and runs what `make up` runs without Docker.

The file is validated against the Compose specification's JSON schema, vendored in
tests/data/compose-spec.json (compose-spec/compose-spec, schema/compose-spec.json). Then it is
compared with deploy/local, the path `make up` takes on a machine without Docker (this one):
the same parts (`stack.sh status` lists them), the same published ports as the local defaults,
and, for each service, every variable the local stack exports that the service reads."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs  # pinned in requirements-dev.lock (schemathesis brings it)
import yaml

from tools import config_reference

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
LOCAL = ROOT / "deploy" / "local"

# Parts of one side only, and why.
COMPOSE_ONLY = {"grafana": "no Debian package; deploy/grafana/ provisions any Grafana 11"}
# The published port of each part as `make up` chooses it without Docker: the variable that
# moves it there, and its default.
LOCAL_PORTS = {
    "postgres": ("LOCAL_PG_PORT", 55432),
    "ingestor": ("INGESTOR_PORT", 8080),
    "scorer": ("SCORER_PORT", 8081),
    "scorer-consume": ("SCORER_CONSUME_PORT", 8084),
    "scorer-refresh": ("SCORER_REFRESH_PORT", 8085),
    "notifier": ("NOTIFIER_PORT", 8082),
    "prometheus": ("PROMETHEUS_PORT", 9090),
    "alertmanager": ("ALERTMANAGER_PORT", 9093),
    "kafka": ("LOCAL_KAFKA_PORT", 9092),
    "wecom-standin": ("WECOM_STANDIN_PORT", 8083),
}
# Variables the local stack exports that a compose service need not set, and why.
LOCAL_ONLY = {
    "INGESTOR_PORT": "the container listens on the default; the published port is checked",
    "SCORER_PORT": "the container listens on the default; the published port is checked",
    "NOTIFIER_PORT": "the container listens on the default; the published port is checked",
    "TOPIC_REPLICATION_FACTOR": "set only for KAFKA_BROKERS=3; compose runs one broker",
    "TOPIC_MIN_INSYNC_REPLICAS": "set only for KAFKA_BROKERS=3; compose runs one broker",
    "DATABASE_READER_URL": "Grafana's reader; compose gives Grafana its parts instead",
}


@cache
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def local_parts() -> set[str]:
    """The parts `stack.sh status` reports (Kafka's first node is `kafka`)."""
    script = (LOCAL / "stack.sh").read_text(encoding="utf-8")
    match = re.search(r'for name in "\$\{kafka\[@\]\}" ([^;]+); do', script)
    assert match, "stack.sh status no longer lists its parts as this test expects"
    return {"kafka", *match.group(1).split()}


def exported_variables() -> set[str]:
    """What export_stack_env (deploy/local/env.sh) and postgres.sh's env give the services."""
    env = (LOCAL / "env.sh").read_text(encoding="utf-8")
    body = env[env.index("export_stack_env()") :]
    names = set(re.findall(r"export\s+([A-Z][A-Z0-9_]*)=", body))
    names |= set(re.findall(r"\b([A-Z][A-Z0-9_]*)=\$\{\1[:}]", body))
    postgres = (LOCAL / "postgres.sh").read_text(encoding="utf-8")
    names |= set(re.findall(r'echo "([A-Z][A-Z0-9_]*)=', postgres))
    return names


def service_environment(name: str) -> set[str]:
    environment = services()[name].get("environment") or {}
    assert isinstance(environment, dict), f"{name}: environment as a mapping, please"
    return {str(key) for key in environment if key != "<<"}


def published(name: str) -> set[int]:
    ports = services()[name].get("ports") or []
    return {int(str(p).split(":")[-2]) for p in ports if ":" in str(p)}


def test_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema_rs.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    problems = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert problems == []


def test_schema_catches_a_broken_file() -> None:
    """The check can fail: a misspelt key is refused."""
    validator = jsonschema_rs.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    broken = {"services": {"ingestor": {"image": "x", "enviroment": {"A": "1"}}}}
    assert not validator.is_valid(broken)


def test_compose_runs_the_parts_make_up_runs() -> None:
    assert set(services()) - set(COMPOSE_ONLY) == local_parts()


def test_compose_publishes_the_local_ports() -> None:
    wrong = {
        name: (sorted(published(name)), port)
        for name, (_, port) in LOCAL_PORTS.items()
        if port not in published(name)
    }
    assert wrong == {}


def test_local_ports_are_the_scripts_defaults() -> None:
    scripts = "\n".join(p.read_text(encoding="utf-8") for p in LOCAL.glob("*.sh"))
    for variable, port in LOCAL_PORTS.values():
        assert re.search(rf"\b{variable}:-{port}\b", scripts), (variable, port)


def test_each_service_gets_the_variables_make_up_gives_it() -> None:
    readers = {v.name: v.readers for v in config_reference.variables()}
    for also in config_reference.variables():
        for spelling in also.also:
            readers.setdefault(spelling, also.readers)
    exported = exported_variables() - set(LOCAL_ONLY)
    missing = {
        service: sorted(
            name
            for name in exported
            if service in readers.get(name, ()) and name not in service_environment(service)
        )
        for service in config_reference.SERVICES
    }
    assert missing == {service: [] for service in config_reference.SERVICES}


def test_each_variable_compose_sets_is_read_by_its_service() -> None:
    readers = {v.name: v.readers for v in config_reference.variables()}
    unread = {
        service: sorted(
            name for name in service_environment(service) if service not in readers.get(name, ())
        )
        for service in config_reference.SERVICES
    }
    assert unread == {service: [] for service in config_reference.SERVICES}


def test_the_exported_variables_are_found() -> None:
    """The parsing above still sees export_stack_env's variables."""
    assert {"INGEST_API_TOKENS", "WECOM_CALLBACK_AES_KEY", "DATABASE_URL"} <= exported_variables()
