"""`make eval`'s default feed (WeCom callbacks, profiles looked up by the ingestor) finishes
when the scenario holds a contact's profile twice: the ingestor publishes one profile per
contact and employee it looks up, so the records the scorer applies are not the scenario's
count (the evaluation once waited for that count and never finished)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.infra import Infra
from tools.evaluate.runner import run_scenario
from tools.simulator import SimulationConfig, generate
from tools.simulator.config import MIN_EMPLOYEES

pytestmark = pytest.mark.e2e


async def test_the_callbacks_feed_drains_with_a_profile_given_twice(
    infra: Infra, tmp_path: Path
) -> None:
    scenario = generate(SimulationConfig(seed=7, month="2026-10", employees=MIN_EMPLOYEES))
    profile = next(r for r in scenario.records if r["type"] == "contact_profile")
    twice = dataclasses.replace(scenario, records=(*scenario.records, dict(profile)))

    result = await run_scenario(infra, twice, tmp_path, "callbacks")

    assert result["feed"] == "callbacks"
    assert result["records"] == len(scenario.records) + 1
    employees = result["employees"]
    assert len(employees) == MIN_EMPLOYEES
    assert {e: r.valid_adds for e, r in employees.items()} == {
        e: r.expected_valid for e, r in employees.items()
    }
