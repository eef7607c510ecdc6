"""Scorer configuration (CONTRACT.md)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import DatabaseSettings


class ScorerSettings(DatabaseSettings):
    scorer_port: int = 8081
    scorer_group_id: str = "scorer"
    scorer_batch_max_records: int = Field(default=5000, ge=1)
    scorer_batch_timeout_ms: int = Field(default=200, ge=1)
    anomaly_alert_threshold: float = Field(default=60.0, ge=0, le=100)
    calendar_overrides_file: str | None = None
    topic_partitions: int = Field(default=3, ge=1)

    def secrets(self) -> list[str | None]:
        return [self.database_url.get_secret_value(), self.migration_dsn]
