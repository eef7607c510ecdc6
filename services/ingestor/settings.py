"""Ingestor configuration (CONTRACT.md)."""

from __future__ import annotations

import hmac

from pydantic import Field, SecretStr, field_validator

from shared.settings import PLACEHOLDER_SECRETS, CommonSettings


class IngestorSettings(CommonSettings):
    ingestor_port: int = 8080
    # Comma-separated bearer tokens for /v1/events. None set: the endpoint refuses every call.
    ingest_api_tokens: SecretStr | None = None
    ingest_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    ingest_max_records: int = Field(default=50_000, ge=1)
    topic_partitions: int = Field(default=3, ge=1)

    wecom_corp_id: str | None = None
    wecom_callback_token: SecretStr | None = None
    wecom_callback_aes_key: SecretStr | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    wecom_corp_secret: SecretStr | None = None

    @field_validator("ingest_api_tokens")
    @classmethod
    def _real_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for token in value.get_secret_value().split(","):
            token = token.strip()
            if token.lower() in PLACEHOLDER_SECRETS or len(token) < 16:
                raise ValueError(
                    "INGEST_API_TOKENS holds a placeholder or a token shorter than 16 characters"
                )
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

    def secrets(self) -> list[str | None]:
        return [
            s.get_secret_value() if s else None
            for s in (
                self.wecom_callback_token,
                self.wecom_callback_aes_key,
                self.wecom_corp_secret,
            )
        ] + [t.decode() for t in self.api_tokens()]
