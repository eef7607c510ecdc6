"""A realistic, seeded bank-month simulator with ground truth (issue 6, item 4).

    scenario = generate(SimulationConfig(seed=1, month="2026-10", employees=200, camouflage=1))
    scenario.records        # time-ordered /v1/events records (dicts)
    scenario.labels         # per employee and per (employee, contact): pattern, clean, ...;
                            # facts (not written yet, deleted by the customer) kept apart
    scenario.expected       # valid / pending adds per employee by the default rules

`tools.simulator.feed` sends a scenario to a running ingestor; `python -m tools.simulator`
is the command line."""

from tools.simulator.config import SimulationConfig
from tools.simulator.labels import (
    CLEAN,
    Adaptive,
    ContactFact,
    HardNegative,
    Pattern,
    accepted_codes,
    is_caught,
    is_gaming,
)
from tools.simulator.scenario import Labels, Scenario, generate
from tools.simulator.validity import AddStatus, ExpectedQuota, contact_statuses, expected_quota

__all__ = [
    "CLEAN",
    "Adaptive",
    "AddStatus",
    "ContactFact",
    "ExpectedQuota",
    "HardNegative",
    "Labels",
    "Pattern",
    "Scenario",
    "SimulationConfig",
    "accepted_codes",
    "contact_statuses",
    "expected_quota",
    "generate",
    "is_caught",
    "is_gaming",
]
