"""Scorer configuration (docs/configuration.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr

from services.scorer.domain.completeness import CompletenessRules
from services.scorer.domain.rules import DEFAULT_PEER_PATTERNS, QualityWeights, ScoringRules
from services.scorer.refresh import DEFAULT_SETTLE
from shared.calendar import BusinessCalendar, CalendarOverrides, PeriodKind
from shared.sealed import RobotKeySettings
from shared.settings import DatabaseSettings


class ScorerSettings(RobotKeySettings, DatabaseSettings):
    scorer_port: int = Field(
        default=8081, description="HTTP port: the read API (scores, closes), health, metrics."
    )
    scorer_role: Literal["all", "stream", "consume", "refresh", "api"] = Field(
        default="all",
        description="What this scorer process does: `all` (consume, keep scores current, run "
        "the schedule, serve the read API); `stream` (all but the read API); `consume` (the "
        "consumer with the quota figures it keeps, their timers and the schedule: no "
        "recomputation of quality and anomaly, no read API); `refresh` (only that "
        "recomputation and its sweep, at a lower CPU priority: SCORER_REFRESH_NICE); `api` "
        "(the read API and closes only). A bank at its peak runs `consume` and `refresh` "
        "processes and, apart, `api` processes, so that neither the quota figures nor the "
        "reads wait behind recomputations in one event loop.",
    )
    scorer_refresh_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="In the `refresh` role: how much the process lowers its CPU priority "
        "(nice), so that on shared cores the consumer's batches go first.",
    )
    scorer_group_id: str = Field(
        default="scorer",
        description="Kafka consumer group of the scorer (its offsets are kept in PostgreSQL).",
    )
    scorer_batch_max_records: int = Field(
        default=5000, ge=1, description="Most records consumed and stored in one batch."
    )
    scorer_batch_timeout_ms: int = Field(
        default=200, ge=1, description="How long a batch waits to fill, in milliseconds."
    )
    anomaly_alert_threshold: float = Field(
        default=40.0,
        ge=0,
        le=100,
        description="Anomaly score from which an employee's score is `flagged` and "
        "`AnomalyFlagged` is sent.",
    )
    calendar_overrides_file: str | None = Field(
        default=None,
        description="YAML file of holidays and working days that override the mainland "
        "calendar (`deploy/calendar/`); unset: none.",
    )
    refresh_settle_seconds: dict[PeriodKind, float] = Field(
        default_factory=lambda: {k: t.total_seconds() for k, t in DEFAULT_SETTLE.items()},
        description="Per period kind, how long after an input changes a score row its quality "
        "and anomaly are recomputed (changes meanwhile are taken together): at most one "
        'recompute per row per settle. JSON, e.g. {"day": 0.5, "quarter": 30}; kinds left out '
        "keep their default. The read API's quota figures do not wait: it reads them from "
        "the counters, current when a batch commits; the rows' copies follow with the "
        "recompute. Kinds with the same settle are recomputed in the same round, and an "
        "employee's relations are then read once for all of them.",
    )
    scores_rest_after_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Once no input has changed for this long (no record applied, no verdict, "
        "no campaign), every open score is recomputed once more, the peers' baseline and dense "
        "blocks afresh, so that figures depend on the inputs alone and not on the order or "
        "batching they arrived in.",
    )
    scores_rest_min_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="At least this long between two such passes (each recomputes every open "
        "score once): a trickle of records with quiet gaps between them asks for a pass at "
        "most this often.",
    )

    # Validity and quality rules (docs/product.md defaults; optional bank rules off).
    retention_days: int = Field(
        default=7,
        ge=0,
        description="Days neither side may remove an added contact for the add to be valid.",
    )
    peer_corp_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PEER_PATTERNS),
        description="Names of financial institutions: a WeCom user whose corp name contains "
        "one (any case) is a peer, never a valid add.",
    )
    own_corp_names: list[str] = Field(
        default_factory=list, description="The bank's own corp names, treated as peers too."
    )
    require_customer_match: bool = Field(
        default=False, description="Only contacts matched to a bank customer are valid adds."
    )
    require_assignment: bool = Field(
        default=False, description="Only customers assigned to the employee are valid adds."
    )
    max_adds_per_state_per_day: int | None = Field(
        default=None,
        description="Most valid adds through one channel `state` a day (the rest are invalid, "
        "`state_daily_cap`); unset: no cap.",
    )
    quality_weights: QualityWeights = QualityWeights()
    # An add is never valid before its contact's profile is known: after this long without one
    # (from when the scorer first stored the add) it is `unverified`, invalid unless the bank
    # counts them.
    profile_wait_hours: float = Field(default=72.0, ge=0)
    count_unverified_as_valid: bool = Field(
        default=False, description="Count `unverified` adds (no profile in time) as valid."
    )
    # Inherited customers (add_way 202, handovers) are counted apart unless the bank says so;
    # a bank may treat add_way 201 (shared by a colleague) as inherited too.
    count_inherited_as_valid: bool = False
    inherit_shared_by_colleague: bool = Field(
        default=False, description="Treat add_way 201 (shared by a colleague) as inherited."
    )

    # Time-driven work.
    close_period_kinds: list[PeriodKind] = Field(
        default_factory=lambda: [PeriodKind.MONTH, PeriodKind.QUARTER],
        description="Kinds of period the scorer closes itself at their deadline.",
    )
    close_grace_hours: float = Field(
        default=8 * 24,
        ge=0,
        description="Hours after a period's end until its deadline (the retention window of "
        "its last adds has run by then).",
    )
    pace_checkpoints: list[int] = Field(
        default_factory=lambda: [10, 20],
        description="Working days of the month after which employees behind their pace are "
        "reported (`PaceBehind`).",
    )
    data_stale_working_hours: float = Field(
        default=4.0,
        gt=0,
        description="Working hours without contact events after which WeCom data is stale: "
        "`DataStale` is raised, and closes wait unless a reconciliation ran since the period's "
        "end.",
    )
    schedule_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the time-driven work (closes, pace checkpoints, stale data) "
        "is looked at.",
    )
    # A period closes at its deadline only once its inputs are complete (close_gate.py): the
    # bank sources that must first send a `source_watermark` through its end (none by
    # default), and how long a quiet contact-event partition may hold a close back.
    close_required_sources: list[str] = Field(default_factory=list)
    close_idle_partition_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="Seconds a quiet contact-event partition may hold a period's close back.",
    )

    # The review loop (services/scorer/review, docs/console.md).
    review_case_period_kinds: list[PeriodKind] = Field(
        default_factory=lambda: [PeriodKind.MONTH],
        description="Kinds of period whose anomaly flag opens a review case of its own. A flag "
        "of another kind (a quarter) is attached to the open or latest case of a month it "
        "overlaps when REVIEW_LINK_TO_MONTH is on, else it opens a case of its own.",
    )
    review_link_to_month: bool = Field(
        default=True,
        description="Attach a flag of a period kind outside REVIEW_CASE_PERIOD_KINDS to the "
        "case of a month it overlaps instead of opening a case for it.",
    )
    review_reopen_margin: float = Field(
        default=10.0,
        ge=0,
        le=100,
        description="Points the anomaly score of an employee and period must rise above the "
        "score of its dismissed case before a new case opens for it.",
    )
    review_supervisors_decide: bool = Field(
        default=False,
        description="Supervisors may confirm or dismiss the cases of their own org subtree "
        "(risk reviewers and admins always may); off, they may only read them.",
    )
    console_session_hours: float = Field(
        default=8.0,
        gt=0,
        le=24 * 7,
        description="How long a sign-in to the review console (/console) lasts; a revoked "
        "token ends its sessions at once.",
    )

    def calendar(self) -> BusinessCalendar:
        """Working days by the State Council's calendar and the bank's overrides, if any."""
        overrides = (
            CalendarOverrides.from_yaml(self.calendar_overrides_file)
            if self.calendar_overrides_file
            else None
        )
        return BusinessCalendar(overrides, tz=self.tz)

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
        robot_keys = (self.notifier_robot_keys or SecretStr("")).get_secret_value()
        return [
            self.database_url.get_secret_value(),
            self.migration_dsn,
            self.erasure_hmac_key.get_secret_value() if self.erasure_hmac_key else None,
            robot_keys or None,
            *(entry.partition(":")[2].strip() or None for entry in robot_keys.split(",")),
        ]

    def refresh_settle(self) -> dict[PeriodKind, timedelta]:
        return {k: timedelta(seconds=v) for k, v in self.refresh_settle_seconds.items()}
