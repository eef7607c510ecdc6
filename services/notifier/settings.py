"""Notifier configuration (docs/contract.md): the environment, plus the routing file it names."""

from __future__ import annotations

from pydantic import Field, SecretStr

from services.notifier.domain.config import NotifierConfig
from shared.settings import DatabaseSettings


class NotifierSettings(DatabaseSettings):
    notifier_port: int = 8082
    notifier_group_id: str = "notifier"
    notifier_config: str | None = None
    notifier_webhook_url: str | None = None
    notifier_external_url: str = ""
    # Signs acknowledgement links; without it the service runs but sends no ack links.
    notifier_ack_secret: SecretStr | None = None
    notifier_smtp_password: SecretStr | None = None
    # The secret of the WeCom app that sends app messages (defaults to WECOM_CORP_SECRET).
    notifier_wecom_app_secret: SecretStr | None = None
    wecom_corp_secret: SecretStr | None = None
    wecom_corp_id: str | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    delivery_interval_seconds: float = Field(default=1.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    escalation_interval_seconds: float = Field(default=60.0, gt=0)
    # how often the daily digest's schedule is looked at (it is planned at most once a day)
    daily_digest_interval_seconds: float = Field(default=30.0, gt=0)
    # WeCom's limit per group robot: 20 messages in any minute (smaller windows for tests)
    robot_messages_per_window: int = Field(default=20, ge=1)
    robot_window_seconds: float = Field(default=60.0, gt=0)
    topic_partitions: int = Field(default=3, ge=1)

    def routing(self) -> NotifierConfig:
        """The routing file, validated (ConfigError names the bad key); built-in: log only."""
        if self.notifier_config:
            return NotifierConfig.from_yaml(self.notifier_config)
        return NotifierConfig()

    def app_secret(self) -> SecretStr | None:
        return self.notifier_wecom_app_secret or self.wecom_corp_secret

    def secrets(self) -> list[str | None]:
        optional = [
            self.notifier_ack_secret,
            self.notifier_smtp_password,
            self.notifier_wecom_app_secret,
            self.wecom_corp_secret,
        ]
        return [
            self.database_url.get_secret_value(),
            self.migration_dsn,
            *(s.get_secret_value() for s in optional if s is not None),
        ]
