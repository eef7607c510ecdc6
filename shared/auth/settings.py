"""Settings of the bank's SSO (JWT) sign-in, shared by every service with an API."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth.sso import ClaimNames, SsoVerifier, key_source


class SsoSettings(BaseSettings):
    """Part of every service's settings; unset SSO_JWKS: SSO JWTs are not accepted."""

    model_config = SettingsConfigDict(extra="ignore")

    sso_jwks: str | None = Field(
        default=None,
        description="The bank SSO's JWKS: a file path or an `https://` URL. Set, the APIs "
        "accept the SSO's RS256/ES256 JWTs (with SSO_ISSUER and SSO_AUDIENCE).",
    )
    sso_issuer: str | None = Field(
        default=None, description="The `iss` an SSO JWT must carry (required with SSO_JWKS)."
    )
    sso_audience: str | None = Field(
        default=None, description="The `aud` an SSO JWT must carry (required with SSO_JWKS)."
    )
    sso_clock_skew_seconds: float = Field(
        default=60.0,
        ge=0,
        le=300,
        description="Clock skew allowed when checking an SSO JWT's `exp` and `nbf` (at most "
        "300 s).",
    )
    sso_role_claim: str = Field(
        default="role",
        description="Claim of an SSO JWT holding the role (admin, risk, supervisor, viewer, "
        "ingest).",
    )
    sso_employee_id_claim: str = Field(
        default="employee_id",
        description="Claim of an SSO JWT holding the caller's employee id (required for "
        "supervisors).",
    )

    @model_validator(mode="after")
    def _issuer_and_audience(self) -> SsoSettings:
        if self.sso_jwks and not (self.sso_issuer and self.sso_audience):
            raise ValueError("SSO_JWKS needs SSO_ISSUER and SSO_AUDIENCE")
        return self

    def sso_verifier(self) -> SsoVerifier | None:
        if not self.sso_jwks or not self.sso_issuer or not self.sso_audience:
            return None
        return SsoVerifier(
            key_source(self.sso_jwks),
            self.sso_issuer,
            self.sso_audience,
            self.sso_clock_skew_seconds,
            ClaimNames(self.sso_role_claim, self.sso_employee_id_claim),
        )
