"""Configuration from the environment (docs/configuration.md). One Settings class per service
builds on these; each refuses to start when a secret it needs is missing or obviously a
placeholder."""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth.settings import SsoSettings
from shared.clock import Clock, shifted_clock
from shared.topics import Profile, TopicPolicy, TopicRole, TopicSpec, policy_problems

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "password", "token", "test"}
)

ERASURE_KEY_LENGTH = 32

# Descriptions of the settings that more than one service declares (docs/configuration.md).
WECOM_API_BASE_DESCRIPTION = "Base URL of the WeCom server API."


class Topics(BaseSettings):
    """Kafka topic names; overridable, these are the contract's defaults."""

    model_config = SettingsConfigDict(env_prefix="TOPIC_", extra="ignore")

    contact_events: str = Field(
        default="wecom.contact-events.v1",
        description="WeCom contact events (adds, removals, handovers): ingestor → scorer.",
    )
    bank_records: str = Field(
        default="bank.records.v1",
        description="The bank's records (`/v1/events`, contact profiles, reconciliation "
        "markers): ingestor → scorer.",
    )
    breaches: str = Field(
        default="scoring.breaches.v1", description="Breach events: scorer → notifier."
    )
    raw_callbacks: str = Field(
        default="wecom.raw-events.v1",
        description="WeCom callbacks that are not contact changes, kept whole (ingestor).",
    )
    reconcile_lease: str = Field(
        default="wecom.reconcile-lease.v1",
        description="One partition: the ingestor replica its group assigns it to runs the daily "
        "reconciliation and records each successful run there, for the next holder "
        "(services/ingestor/reconcile_lease.py).",
    )

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    def role(self, name: str) -> TopicRole:
        """Source topics are kept (shared/topics.py), the lease is a table; the others are
        derived."""
        if name in (self.contact_events, self.bank_records):
            return TopicRole.SOURCE
        if name == self.reconcile_lease:
            return TopicRole.TABLE
        return TopicRole.DERIVED


class CommonSettings(SsoSettings):
    # A refused value is never echoed in the error (it may be a real secret, mistyped).
    model_config = SettingsConfigDict(
        extra="ignore", env_nested_delimiter="__", hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = Field(
        default="localhost:9092", description="Kafka brokers, `host:port`, comma-separated."
    )
    business_timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone of the business calendar: periods, working days and the "
        "local times of schedules.",
    )
    log_level: str = Field(
        default="INFO", description="Level of the JSON log on stderr (DEBUG, INFO, WARNING, …)."
    )
    topics: Topics = Field(default_factory=Topics)
    wq_profile: Profile = Field(
        default=Profile.DEVELOPMENT,
        description="`production` refuses to start unless topics survive a broker's loss "
        "(TOPIC_REPLICATION_FACTOR ≥ 3, TOPIC_MIN_INSYNC_REPLICAS ≥ 2 and below it) and "
        "refuses an existing topic whose settings differ from these; `development` logs "
        "the difference and goes on.",
    )
    topic_partitions: int = Field(
        default=3,
        ge=1,
        description="Partitions of each topic the services create when it is missing; an "
        "existing topic with fewer is reported at start (WQ_PROFILE).",
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of every topic (brokers holding a copy)."
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="`min.insync.replicas` of every topic: copies an acknowledged write "
        "(acks=all) is on.",
    )
    topic_retention_days: int = Field(
        default=30,
        ge=-1,
        description="Retention of raw callbacks, breaches and dead letters, in days; -1 keeps "
        "them forever.",
    )
    topic_source_retention_days: int = Field(
        default=-1,
        ge=-1,
        description="Retention of the source topics (contact events, bank records), in days; "
        "-1 (the default) keeps them forever: the reconciliation folds the contact-event "
        "topic from its start.",
    )
    # Shifts every clock the service reads (shared.clock): for running the stack as of another
    # day in tests and demos. 0 (the default) is the machine's clock.
    clock_offset_seconds: float = 0.0

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"BUSINESS_TIMEZONE {value!r} is not an IANA time zone") from exc
        return value

    @field_validator("topic_retention_days", "topic_source_retention_days")
    @classmethod
    def _some_retention(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a retention of 0 days would delete every record; -1 keeps them")
        return value

    @model_validator(mode="after")
    def _topics_can_run(self) -> CommonSettings:
        problems = policy_problems(self.topic_policy(), self.wq_profile)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def topic_policy(self) -> TopicPolicy:
        return TopicPolicy(
            partitions=self.topic_partitions,
            replication_factor=self.topic_replication_factor,
            min_insync_replicas=self.topic_min_insync_replicas,
            retention_days=self.topic_retention_days,
            source_retention_days=self.topic_source_retention_days,
        )

    def topic_specs(self, names: Iterable[str]) -> list[TopicSpec]:
        """The specs of the named topics (the contract's, their dead-letter topics)."""
        policy = self.topic_policy()
        return [policy.spec(n, self.topics.role(n)) for n in sorted(set(names))]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def clock(self) -> Clock:
        return shifted_clock(self.clock_offset_seconds)


class DatabaseSettings(CommonSettings):
    """For services that keep state in PostgreSQL."""

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://wq_app@127.0.0.1:55432/wecom_quota"),
        description="PostgreSQL DSN of the application role, which the service works as.",
    )
    # Migrations need the schema owner; services themselves run as the application role.
    database_migration_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL DSN of the schema owner, which applies the migrations at "
        "start; unset: DATABASE_URL.",
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="Most connections in the PostgreSQL pool."
    )
    # How often gauges read from Kafka and PostgreSQL (consumer lag, backlogs) are refreshed.
    metrics_probe_interval_seconds: float = Field(default=5.0, gt=0)
    contact_data_retention_months: int = Field(
        default=24,
        ge=1,
        le=1200,
        description="Months contact-level data is kept (PIPL): contact events, messages, "
        "relations, profiles, and contact ids quoted in anomaly evidence and alerts. Older data "
        "is purged a whole month at a time by the scorer's schedule (and the notifier's), "
        "keeping the figures of the periods it fed; records about that time are dropped when a "
        "topic is replayed.",
    )
    erasure_hmac_key: SecretStr | None = Field(
        default=None,
        description="Key of the keyed hash (HMAC-SHA256) by which `wecom-quota erase` lists an "
        "erased contact and records it in the audit log, never by its id; the scorer and the "
        "notifier recognise erased contacts with it. At least 32 characters; the same value "
        "everywhere and never changed (a new key no longer recognises the contacts listed). "
        "Unset: `wecom-quota erase` refuses, and a service that finds the erasure list "
        "non-empty stops.",
    )

    @field_validator("erasure_hmac_key")
    @classmethod
    def _real_erasure_key(cls, value: SecretStr | None) -> SecretStr | None:
        return optional_secret("ERASURE_HMAC_KEY", value, min_length=ERASURE_KEY_LENGTH)

    @property
    def migration_dsn(self) -> str:
        url = self.database_migration_url or self.database_url
        return url.get_secret_value()


def require_secret(name: str, value: SecretStr | None, min_length: int = 1) -> SecretStr:
    """Refuse a missing or placeholder secret with a message that names it (never its value)."""
    raw = value.get_secret_value() if value is not None else ""
    if raw.strip().lower() in PLACEHOLDER_SECRETS or len(raw) < min_length:
        raise ValueError(f"{name} is missing or a placeholder; set a real secret")
    return value  # type: ignore[return-value]


def optional_secret(name: str, value: SecretStr | None, min_length: int = 1) -> SecretStr | None:
    """A secret whose feature may stay off: unset (None, or empty as docker-compose's `${X:-}`
    passes it) is off; anything else must be a real secret (require_secret), or the service
    refuses to start."""
    if value is None or not value.get_secret_value().strip():
        return None
    return require_secret(name, value, min_length)


def check_secret(value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
    """A field validator for each optional secret of a settings class (its env name in the
    message, never its value)."""
    return optional_secret((info.field_name or "secret").upper(), value)
