"""Reading the checked-in dashboards and Prometheus rules the way Grafana and Prometheus do:
the PromQL and SQL they run, the variables they define, and Grafana's SQL macro expansion
(for running panels against a real database without Grafana)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from tests.infra import ROOT

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
RULES = ROOT / "deploy" / "prometheus" / "rules"
# An alert's expression is `<figure> <op> <number>`; the figure must return data.
ALERT_FORM = re.compile(r"^(?P<figure>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<threshold>[0-9.e+]+)$")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))|\[\[(\w+)\]\]")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those nested in collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    datasource_uid: str
    query: str
    fmt: str


def targets() -> list[Target]:
    found = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for t in panel.get("targets", []):
                ds = t.get("datasource") or panel.get("datasource") or {}
                query = t.get("expr") if "expr" in t else t.get("rawSql", "")
                found.append(
                    Target(name, panel["title"], ds.get("uid", ""), query, t.get("format", ""))
                )
    return found


def provisioned_datasources() -> dict[str, str]:
    """uid → type of deploy/grafana/provisioning/datasources."""
    config = yaml.safe_load(DATASOURCES.read_text())
    return {d["uid"]: d["type"] for d in config["datasources"]}


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def used_variables(text: str) -> set[str]:
    """Template variables a query refers to, Grafana's own ($__timeFilter, ...) left out."""
    names = {a or b or c for a, b, c in VARIABLE.findall(text)}
    return {n for n in names if not n.startswith("__")}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(interval: str) -> int:
    m = re.fullmatch(r"(\d+)([smhd])", interval.strip().strip("'"))
    if m is None:
        raise ValueError(f"unsupported interval {interval!r}")
    return int(m[1]) * _UNITS[m[2]]


def expand_sql(
    sql: str,
    variables: Mapping[str, Sequence[str]],
    multi: set[str],
    start: datetime,
    end: datetime,
) -> str:
    """Grafana's PostgreSQL macros and variable interpolation: a single-value variable is
    inserted as it is, a multi-value one as a quoted, comma-separated list."""
    t0, t1 = f"'{start.isoformat()}'", f"'{end.isoformat()}'"

    def group(m: re.Match[str], alias: bool) -> str:
        column, interval = (x.strip() for x in m[1].split(",", 1))
        step = _seconds(interval)
        bucket = f"floor(extract(epoch from {column})/{step})*{step}"
        return f'{bucket} AS "time"' if alias else bucket

    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", rf"\1 BETWEEN {t0} AND {t1}", sql)
    sql = sql.replace("$__timeFrom()", t0).replace("$__timeTo()", t1)
    sql = re.sub(r"\$__timeGroupAlias\(([^)]*)\)", lambda m: group(m, True), sql)
    sql = re.sub(r"\$__timeGroup\(([^)]*)\)", lambda m: group(m, False), sql)

    def value(m: re.Match[str]) -> str:
        name = m[1] or m[2] or m[3]
        if name.startswith("__"):
            raise ValueError(f"unexpanded macro ${name} in: {sql}")
        if name not in variables:
            raise KeyError(f"variable {name!r} has no value")
        values = variables[name]
        if name in multi:
            return ",".join("'" + v.replace("'", "''") + "'" for v in values)
        return values[0]

    sql = VARIABLE.sub(value, sql)
    if VARIABLE.search(sql):
        raise ValueError(f"unexpanded macro or variable left in: {sql}")
    return sql
