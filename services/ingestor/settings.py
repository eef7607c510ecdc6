"""Ingestor configuration (docs/configuration.md)."""

from __future__ import annotations

import hmac
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from services.ingestor.wecom.crypto import CallbackCrypto
from shared.auth.roles import Identity, Role
from shared.settings import (
    WECOM_API_BASE_DESCRIPTION,
    CommonSettings,
    check_secret,
    require_secret,
)


class IngestorSettings(CommonSettings):
    ingestor_port: int = Field(
        default=8080, description="HTTP port: WeCom callbacks, `/v1/events`, health, metrics."
    )
    # Comma-separated bearer tokens for /v1/events. None set: the endpoint refuses every call.
    ingest_api_tokens: SecretStr | None = None
    ingest_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest `/v1/events` request body in bytes (413 above).",
    )
    ingest_max_records: int = Field(
        default=50_000, ge=1, description="Most records in one `/v1/events` request (400 above)."
    )

    wecom_corp_id: str | None = Field(
        default=None,
        description="The bank's WeCom CorpID: checks callbacks (with WECOM_CALLBACK_TOKEN and "
        "WECOM_CALLBACK_AES_KEY) and calls the WeCom API (with WECOM_CORP_SECRET).",
    )
    wecom_callback_token: SecretStr | None = Field(
        default=None, description="Token of the WeCom callback configuration (signatures)."
    )
    wecom_callback_aes_key: SecretStr | None = Field(
        default=None,
        description="EncodingAESKey of the WeCom callback configuration (43 characters).",
    )
    wecom_api_base: str = Field(
        default="https://qyapi.weixin.qq.com", description=WECOM_API_BASE_DESCRIPTION
    )
    wecom_corp_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the app with customer-contact rights (客户联系): with "
        "WECOM_CORP_ID it turns on contact lookups and reconciliation.",
    )

    # Callback transport. WeCom retries a delivery within seconds, so a query `timestamp`
    # older (or newer) than this window is a replay; CreateTime is never judged (history).
    wecom_replay_window_seconds: int = Field(default=300, ge=1)
    wecom_callback_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest callback body in bytes (413 above)."
    )
    # WeCom gives up after 5 s: wait this long for Kafka's ack, then spool instead.
    kafka_publish_timeout_seconds: float = Field(default=2.0, gt=0, le=4.0)
    kafka_connect_retry_seconds: float = Field(
        default=2.0, gt=0, description="Pause between attempts to reach Kafka while it is down."
    )
    spool_dir: Path = Field(
        default=Path(".run/spool/ingestor"),
        description="Folder of the durable spool, where records wait while Kafka does not "
        "acknowledge them in time (one ingestor process a folder).",
    )
    spool_replay_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the spool is looked at for records to replay to Kafka (a "
        "backlog is replayed without pausing).",
    )
    spool_replay_batch: int = Field(
        default=500, ge=1, description="Spooled records replayed to Kafka in one batch."
    )

    # Enrichment through the WeCom REST API (on only with WECOM_CORP_SECRET): one request's
    # time limit (a hanging WeCom costs a worker this long, never a callback).
    wecom_api_timeout_seconds: float = Field(default=3.0, gt=0)
    # Pause before the reconciliation's own retry of a 45009 answer (doubling each time).
    wecom_rate_limit_backoff_seconds: float = Field(default=1.0, ge=0)
    # Consecutive failed calls that open the circuit breaker, and how long it then stays open
    # before one trial call (45009 answers and "no such contact" do not count).
    wecom_breaker_failures: int = Field(default=5, ge=1)
    wecom_breaker_reset_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long the open circuit breaker waits before one trial call.",
    )

    # Durable contact lookups (lookups/): the ledger of contacts waiting for a profile, one
    # SQLite file per contact-event topic in this folder (one folder per ingestor replica).
    lookup_state_dir: Path = Path(".run/lookups/ingestor")
    # The Kafka consumer group that folds the contact-event topic into the ledger (its
    # partitions are shared among the replicas; offsets are kept in the ledger itself).
    lookup_group_id: str = Field(default="ingestor-lookups", min_length=1)
    # Where a new ledger starts reading a partition it has no offset for: "earliest" looks up
    # every contact already on the topic once, "latest" only the ones that arrive from now.
    lookup_start_from: Literal["earliest", "latest"] = "earliest"
    # The most `externalcontact/get` calls a second (WeCom's limit per corp, less whatever
    # other systems of the bank use); halved on each 45009 answer (at most once a second).
    wecom_lookup_rate_per_second: float = Field(default=50.0, gt=0)
    # After a halving the rate climbs back to the full rate in this many seconds (AIMD).
    wecom_lookup_recovery_seconds: float = Field(default=60.0, gt=0)
    # Lookups in flight at once (each waits for WeCom, then for Kafka's acks=all).
    wecom_lookup_concurrency: int = Field(default=16, ge=1, le=256)
    # WeCom's 5 s come first: lookups wait while this many callbacks are being answered at
    # once (the ingestor is saturated); 0 never waits.
    wecom_lookup_yield_callbacks: int = Field(default=32, ge=0)
    # A failed lookup of a contact is tried again after base·2^(n-1) seconds, at most the cap,
    # with jitter; forever (never given up: the scorer decides what an unanswered add counts).
    wecom_lookup_retry_base_seconds: float = Field(default=1.0, gt=0)
    wecom_lookup_retry_cap_seconds: float = Field(
        default=300.0, gt=0, description="Longest pause before a failed lookup is tried again."
    )

    # Reconciliation (reconcile.py): its state, the daily schedule, the employees walked.
    reconcile_state_dir: Path = Field(
        default=Path(".run/reconcile/ingestor"),
        description="Folder of the reconciliation's state: the follow relations it knows and "
        "its runs (a SQLite file).",
    )
    # Local time in BUSINESS_TIMEZONE ("02:30") of the daily run inside the ingestor; None:
    # no schedule (run `python -m services.ingestor.reconcile` from cron instead).
    reconcile_daily_at: time | None = None
    reconcile_employees_file: Path | None = Field(
        default=None,
        description="File of the WeCom userids to walk, one a line; unset: every employee "
        "WeCom lists with customer contact.",
    )
    # A walk that loses more than this share of an employee group's known relations publishes
    # nothing and fails (WeCom answering short must never look like mass deletions).
    reconcile_max_delete_share: float = Field(default=0.2, gt=0, le=1)
    reconcile_retry_minutes: float = Field(
        default=30.0, gt=0, description="Minutes before a failed daily run is tried again."
    )
    reconcile_check_seconds: float = Field(
        default=60.0, gt=0, description="How often the schedule checks whether a run is due."
    )
    reconcile_lease_group: str = Field(
        default="ingestor-reconcile-lease",
        description="Kafka consumer group of the replicas' schedules on TOPIC_RECONCILE_LEASE: "
        "the one member holding its partition runs the reconciliation.",
    )
    reconcile_lease_session_seconds: float = Field(
        default=10.0,
        ge=6,
        description="A lease holder silent this long loses the lease to another replica (at "
        "least Kafka's group.min.session.timeout.ms, 6 s by default).",
    )

    @model_validator(mode="after")
    def _reconcile_needs_the_api(self) -> IngestorSettings:
        if self.reconcile_daily_at is not None and not self.enrichment_enabled:
            raise ValueError("RECONCILE_DAILY_AT needs WECOM_CORP_ID and WECOM_CORP_SECRET")
        return self

    _real_secrets = field_validator(
        "wecom_callback_token", "wecom_callback_aes_key", "wecom_corp_secret"
    )(check_secret)

    @field_validator("ingest_api_tokens")
    @classmethod
    def _real_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for token in value.get_secret_value().split(","):
            require_secret("INGEST_API_TOKENS (each token, 16+ characters)", SecretStr(token), 16)
        return value

    def api_tokens(self) -> list[bytes]:
        if self.ingest_api_tokens is None:
            return []
        raw = self.ingest_api_tokens.get_secret_value().split(",")
        return [t.strip().encode() for t in raw if t.strip()]

    def token_accepted(self, presented: str) -> bool:
        """Constant-time comparison against every configured token (no early exit)."""
        candidate = presented.encode()
        accepted = False
        for token in self.api_tokens():
            accepted |= hmac.compare_digest(candidate, token)
        return accepted

    def ingest_identity(self, presented: str) -> Identity | None:
        """Who a configured INGEST_API_TOKENS token is (the ingest role), else None."""
        if not self.token_accepted(presented):
            return None
        return Identity("ingest-api-token", Role.INGEST, via="static")

    def callback_crypto(self) -> CallbackCrypto | None:
        """The callback configuration, or None when none of it is set (endpoint answers 503).

        Half a configuration is a deployment mistake, refused at start with the missing names
        (never the values); so is an EncodingAESKey that is not 43 base64 characters."""
        parts = {
            "WECOM_CORP_ID": self.wecom_corp_id or "",
            "WECOM_CALLBACK_TOKEN": _reveal(self.wecom_callback_token),
            "WECOM_CALLBACK_AES_KEY": _reveal(self.wecom_callback_aes_key),
        }
        missing = [name for name, value in parts.items() if not value.strip()]
        if len(missing) == len(parts):
            return None
        if missing:
            raise ValueError(f"WeCom callback half configured; also set {', '.join(missing)}")
        return CallbackCrypto(
            parts["WECOM_CALLBACK_TOKEN"], parts["WECOM_CALLBACK_AES_KEY"], parts["WECOM_CORP_ID"]
        )

    @property
    def enrichment_enabled(self) -> bool:
        return bool(_reveal(self.wecom_corp_secret).strip()) and bool(self.wecom_corp_id)

    def secrets(self) -> list[str | None]:
        return [
            s.get_secret_value() if s else None
            for s in (
                self.wecom_callback_token,
                self.wecom_callback_aes_key,
                self.wecom_corp_secret,
            )
        ] + [t.decode() for t in self.api_tokens()]


def _reveal(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
