"""The checked-in dashboards are what the generator makes, and are well formed: unique panel
ids, datasources that are provisioned, variables that are defined. The Prometheus config and
rules pass promtool; docker-compose gives every service a healthcheck."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests import grafana
from tests.infra import ROOT
from tools.dashboards.__main__ import generated


def test_checked_in_dashboards_are_generated() -> None:
    made = generated()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in grafana.DASHBOARDS.glob("*.json")}
    assert set(on_disk) == set(made)
    stale = [name for name, text in made.items() if on_disk[name] != text]
    assert not stale, f"run `make dashboards`: {stale} differ from tools/dashboards"


@pytest.mark.parametrize("name", sorted(grafana.dashboards()))
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in grafana.panels(grafana.dashboards()[name])]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


def test_dashboard_uids_are_unique() -> None:
    uids = [d["uid"] for d in grafana.dashboards().values()]
    assert len(uids) == len(set(uids)) == 3


def test_every_datasource_reference_is_provisioned() -> None:
    provisioned = grafana.provisioned_datasources()
    refs = []
    for dashboard in grafana.dashboards().values():
        refs += [p["datasource"] for p in grafana.panels(dashboard) if "datasource" in p]
        refs += [t["datasource"] for p in grafana.panels(dashboard) for t in p.get("targets", [])]
        refs += [v["datasource"] for v in dashboard.get("templating", {}).get("list", [])]
    assert refs
    for ref in refs:
        assert provisioned.get(ref["uid"]) == ref["type"], ref


@pytest.mark.parametrize("name", sorted(grafana.dashboards()))
def test_every_variable_used_is_defined_before_use(name: str) -> None:
    dashboard = grafana.dashboards()[name]
    defined: list[str] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        # a variable's query may use only the variables defined before it
        assert grafana.used_variables(variable["query"]) <= set(defined), variable["name"]
        defined.append(variable["name"])
    assert len(defined) == len(set(defined))
    for target in grafana.targets():
        if target.dashboard == name:
            assert grafana.used_variables(target.query) <= set(defined), target.panel


def test_expansion_leaves_no_macro_and_knows_grafana_formats() -> None:
    from datetime import UTC, datetime

    sql = (
        "SELECT $__timeGroupAlias(t, 1d) FROM x WHERE $__timeFilter(t) AND b IN ($branch) "
        "AND p = '$period' AND t < $__timeTo()"
    )
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    out = grafana.expand_sql(
        sql, {"branch": ["b1", "o'b"], "period": ["2026-01"]}, {"branch"}, start, end
    )
    assert 'floor(extract(epoch from t)/86400)*86400 AS "time"' in out
    assert "t BETWEEN '2026-01-01T00:00:00+00:00' AND '2026-01-02T00:00:00+00:00'" in out
    assert "b IN ('b1','o''b')" in out and "p = '2026-01'" in out
    with pytest.raises(ValueError, match="unexpanded"):
        grafana.expand_sql("SELECT $__unixEpochFilter(t)", {}, set(), start, end)


def test_alert_expressions_have_the_tested_form() -> None:
    alerts = [r for r in grafana.rules() if "alert" in r]
    assert len(alerts) >= 8
    for rule in alerts:
        assert grafana.ALERT_FORM.match(" ".join(rule["expr"].split())), rule["alert"]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: deploy/local/bootstrap.sh installs Debian's prometheus"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_promtool_accepts_config_and_rules() -> None:
    config = _promtool("check", "config", "deploy/prometheus/prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    rules = _promtool("check", "rules", *map(str, sorted(grafana.RULES.glob("*.yml"))))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_alerts_fire_on_their_conditions() -> None:
    result = _promtool("test", "rules", "deploy/prometheus/tests/rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pipeline_dashboard_shows_lookups_dead_letters_and_held_closes() -> None:
    """What issue 17 made visible: the WeCom lookup backlog (how many, how old), lookup
    outcomes, dead letters and held closes by period and reason."""
    exprs = [t.query for t in grafana.targets() if t.dashboard == "pipeline-health.json"]
    wanted = [
        "sum(ingestor_lookup_backlog)",
        "max(ingestor_lookup_oldest_seconds)",
        "sum by (outcome) (rate(ingestor_lookups_total[1m]))",
        "job:dead_letters:increase15m",
        "max by (period, reason) (scorer_close_held)",
    ]
    for figure in wanted:
        assert any(figure in e for e in exprs), figure


def test_compose_runs_everything_with_healthchecks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    expected = {"kafka", "postgres", "ingestor", "scorer", "notifier", "prometheus", "grafana"}
    expected.add("alertmanager")
    assert expected <= set(services)
    for name, service in services.items():
        # a one-shot job (the demo's simulator: it feeds the bank and exits) has no health
        assert "healthcheck" in service or service.get("restart") == "no", name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
