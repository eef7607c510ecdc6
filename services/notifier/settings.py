"""Notifier configuration (docs/configuration.md): the environment, plus the routing file it
names."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from services.notifier.domain.config import NotifierConfig
from shared.sealed import RobotKeySettings
from shared.settings import (
    WECOM_API_BASE_DESCRIPTION,
    DatabaseSettings,
    check_secret,
    optional_secret,
)


class NotifierSettings(RobotKeySettings, DatabaseSettings):
    notifier_port: int = Field(
        default=8082,
        description="HTTP port: alerts, acknowledgements, silences, health, metrics.",
    )
    notifier_group_id: str = Field(
        default="notifier",
        description="Kafka consumer group of the notifier (its offsets are kept in PostgreSQL).",
    )
    notifier_config: str | None = Field(
        default=None,
        description="Routing file (YAML): routes, channels, recipients, timing, daily digest; "
        "unset: notices are only logged.",
    )
    notifier_webhook_url: str | None = Field(
        default=None,
        description="Catch-all webhook: one Alertmanager-v4 POST per alert; unset: none.",
    )
    notifier_external_url: str = Field(
        default="",
        description="The notifier's public base URL, in acknowledgement links and webhook "
        "bodies (`externalURL`); empty: links use http://localhost:NOTIFIER_PORT.",
    )
    # Signs acknowledgement links; without it the service runs but sends no ack links.
    notifier_ack_secret: SecretStr | None = None
    notifier_alertmanager_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Alertmanager sends to POST /v1/alertmanager (its webhook's "
        "`http_config.authorization.credentials_file` holds the same); unset: that route "
        "refuses every request (401).",
    )
    notifier_smtp_password: SecretStr | None = Field(
        default=None, description="Password of the e-mail channel's SMTP account."
    )
    # The secret of the WeCom app that sends app messages (defaults to WECOM_CORP_SECRET).
    notifier_wecom_app_secret: SecretStr | None = None
    wecom_corp_secret: SecretStr | None = Field(
        default=None,
        description="The app channel's secret when NOTIFIER_WECOM_APP_SECRET is unset.",
    )
    wecom_corp_id: str | None = Field(
        default=None, description="The bank's WeCom CorpID, for the app channel."
    )
    wecom_api_base: str = Field(
        default="https://qyapi.weixin.qq.com", description=WECOM_API_BASE_DESCRIPTION
    )
    delivery_interval_seconds: float = Field(
        default=1.0, gt=0, description="Pause of the delivery loop after a round with nothing due."
    )
    delivery_max_attempts: int = Field(
        default=8, ge=1, description="Attempts at a notice before it is a dead letter."
    )
    delivery_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time limit of one send (HTTP request or SMTP)."
    )
    escalation_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often unacknowledged alerts are looked at for escalation.",
    )
    # how often the daily digest's schedule is looked at (it is planned at most once a day)
    daily_digest_interval_seconds: float = Field(default=30.0, gt=0)
    # WeCom's limit per group robot: 20 messages in any minute (smaller windows for tests)
    robot_messages_per_window: int = Field(default=20, ge=1)
    robot_window_seconds: float = Field(
        default=60.0, gt=0, description="The window of ROBOT_MESSAGES_PER_WINDOW, in seconds."
    )

    def routing(self) -> NotifierConfig:
        """The routing file, validated (ConfigError names the bad key); built-in: log only."""
        if self.notifier_config:
            return NotifierConfig.from_yaml(self.notifier_config)
        return NotifierConfig()

    _real_secrets = field_validator(
        "notifier_smtp_password",
        "notifier_wecom_app_secret",
        "wecom_corp_secret",
        "notifier_alertmanager_token",
    )(check_secret)

    @field_validator("notifier_ack_secret")
    @classmethod
    def _real_ack_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return optional_secret("NOTIFIER_ACK_SECRET", value, min_length=16)

    def app_secret(self) -> SecretStr | None:
        return self.notifier_wecom_app_secret or self.wecom_corp_secret

    def secrets(self) -> list[str | None]:
        optional = [
            self.notifier_ack_secret,
            self.notifier_alertmanager_token,
            self.notifier_robot_keys,
            self.notifier_smtp_password,
            self.notifier_wecom_app_secret,
            self.wecom_corp_secret,
        ]
        # each robot key's own text too: a log line may quote one entry of the ring
        robot_keys = (self.notifier_robot_keys or SecretStr("")).get_secret_value()
        return [
            self.database_url.get_secret_value(),
            self.migration_dsn,
            *(s.get_secret_value() for s in optional if s is not None),
            self.erasure_hmac_key.get_secret_value() if self.erasure_hmac_key else None,
            *(entry.partition(":")[2].strip() for entry in robot_keys.split(",")),
        ]
