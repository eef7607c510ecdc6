"""What the three dashboards share: the provisioned datasources, a PostgreSQL query type (the
SDK has none), and small panel helpers that number panels and set their datasource."""

from __future__ import annotations

import json
from typing import Any, Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

# The uids of deploy/grafana/provisioning/datasources/datasources.yml.
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="prometheus")
POSTGRES = model.DataSourceRef(type_val="grafana-postgresql-datasource", uid="wq-postgres")


class SqlQuery(cogvariants.Dataquery):
    """A raw SQL target of Grafana's PostgreSQL datasource."""

    def __init__(self, ref_id: str, raw_sql: str, fmt: str) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format = fmt

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": POSTGRES.to_json(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.raw_sql,
        }


class Sql(cogbuilder.Builder[SqlQuery]):
    def __init__(self, raw_sql: str, fmt: str = "table", ref_id: str = "A") -> None:
        self._query = SqlQuery(ref_id, dedent_sql(raw_sql), fmt)

    def build(self) -> SqlQuery:
        return self._query


def dedent_sql(sql: str) -> str:
    return "\n".join(line.strip() for line in sql.strip().splitlines())


def promql(expr: str, legend: str = "", ref_id: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(PROMETHEUS.to_json())
    return query.legend_format(legend) if legend else query


class _Identified(Protocol):
    def id(self, id_val: int) -> Self: ...


P = TypeVar("P", bound=_Identified)


class Numbering:
    """Panel ids in order of addition, unique within a dashboard."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, panel: P) -> P:
        self._next += 1
        return panel.id(self._next)


def sql_variable(
    name: str, label: str, sql: str, *, multi: bool = False, include_all: bool = False
) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .id(name)
        .label(label)
        .datasource(POSTGRES)
        .query(dedent_sql(sql))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(multi)
        .include_all(include_all)
    )


def render(dashboard: db.Dashboard) -> str:
    """Stable JSON text for the checked-in file. Unset fields the SDK writes as null (a panel's
    `options`) are left out: Grafana fills in its defaults for absent fields."""
    plain = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    return json.dumps(_without_nulls(plain), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
