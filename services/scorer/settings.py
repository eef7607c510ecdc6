"""Scorer configuration (docs/contract.md)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.scorer.domain.completeness import CompletenessRules
from services.scorer.domain.rules import DEFAULT_PEER_PATTERNS, QualityWeights, ScoringRules
from shared.calendar import PeriodKind
from shared.settings import DatabaseSettings


class ScorerSettings(DatabaseSettings):
    scorer_port: int = 8081
    scorer_group_id: str = "scorer"
    scorer_batch_max_records: int = Field(default=5000, ge=1)
    scorer_batch_timeout_ms: int = Field(default=200, ge=1)
    anomaly_alert_threshold: float = Field(default=40.0, ge=0, le=100)
    calendar_overrides_file: str | None = None
    topic_partitions: int = Field(default=3, ge=1)

    # Validity and quality rules (docs/product.md defaults; optional bank rules off).
    retention_days: int = Field(default=7, ge=0)
    peer_corp_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_PEER_PATTERNS))
    own_corp_names: list[str] = Field(default_factory=list)
    require_customer_match: bool = False
    require_assignment: bool = False
    max_adds_per_state_per_day: int | None = None
    quality_weights: QualityWeights = QualityWeights()
    # An add is never valid before its contact's profile is known: after this long without one
    # (from when the scorer first stored the add) it is `unverified`, invalid unless the bank
    # counts them.
    profile_wait_hours: float = Field(default=72.0, ge=0)
    count_unverified_as_valid: bool = False
    # Inherited customers (add_way 202, handovers) are counted apart unless the bank says so;
    # a bank may treat add_way 201 (shared by a colleague) as inherited too.
    count_inherited_as_valid: bool = False
    inherit_shared_by_colleague: bool = False

    # Time-driven work.
    close_period_kinds: list[PeriodKind] = Field(
        default_factory=lambda: [PeriodKind.MONTH, PeriodKind.QUARTER]
    )
    close_grace_hours: float = Field(default=8 * 24, ge=0)
    pace_checkpoints: list[int] = Field(default_factory=lambda: [10, 20])
    data_stale_working_hours: float = Field(default=4.0, gt=0)
    schedule_interval_seconds: float = Field(default=30.0, gt=0)
    # A period closes at its deadline only once its inputs are complete (close_gate.py): the
    # bank sources that must first send a `source_watermark` through its end (none by
    # default), and how long a quiet contact-event partition may hold a close back.
    close_required_sources: list[str] = Field(default_factory=list)
    close_idle_partition_seconds: float = Field(default=1800.0, gt=0)

    def rules(self) -> ScoringRules:
        return ScoringRules(
            retention_days=self.retention_days,
            peer_corp_patterns=tuple(self.peer_corp_patterns),
            own_corp_names=tuple(self.own_corp_names),
            require_customer_match=self.require_customer_match,
            require_assignment=self.require_assignment,
            max_adds_per_state_per_day=self.max_adds_per_state_per_day,
            quality_weights=self.quality_weights,
            profile_wait_hours=self.profile_wait_hours,
            count_unverified_as_valid=self.count_unverified_as_valid,
            count_inherited_as_valid=self.count_inherited_as_valid,
            inherit_shared_by_colleague=self.inherit_shared_by_colleague,
        )

    def completeness(self) -> CompletenessRules:
        return CompletenessRules(
            required_sources=frozenset(self.close_required_sources),
            idle_partition=timedelta(seconds=self.close_idle_partition_seconds),
        )

    @property
    def close_grace(self) -> timedelta:
        return timedelta(hours=self.close_grace_hours)

    def secrets(self) -> list[str | None]:
        return [self.database_url.get_secret_value(), self.migration_dsn]
