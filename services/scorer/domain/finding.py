"""What a signal found (pure): how surprising it is under its null model, the evidence a
reviewer can check, and the contacts it accuses. `anomaly.assess` turns it into a capped,
explained contribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    surprise: float
    """-log10 of the probability of this much under the signal's null model."""
    evidence: dict[str, Any]
    contacts: list[str]
