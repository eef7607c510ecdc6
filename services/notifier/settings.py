"""Notifier configuration (CONTRACT.md)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import DatabaseSettings


class NotifierSettings(DatabaseSettings):
    notifier_port: int = 8082
    notifier_group_id: str = "notifier"
    notifier_config: str | None = None
    notifier_webhook_url: str | None = None
    notifier_external_url: str = ""
    delivery_interval_seconds: float = Field(default=1.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    topic_partitions: int = Field(default=3, ge=1)

    def secrets(self) -> list[str | None]:
        return [self.database_url.get_secret_value(), self.migration_dsn]
