"""SSO JWTs (shared/auth/sso.py), with keys made here and the JWKS from a file and from a local
HTTP stand-in: only well-signed RS256/ES256 tokens of the right issuer and audience, within
their validity (and the bounded skew), with a known role, name a caller; every other one is
refused, and through the HTTP guard answers 401."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.auth import Action, Identity, Role
from shared.auth.http import REFUSED, Authenticator, identity_of
from shared.auth.settings import SsoSettings
from shared.auth.sso import ClaimNames, SsoVerifier, key_source
from shared.http import JSONResponse
from tests.standins.sso import AUDIENCE, ISSUER, Sso, jwks_server, unsigned

SSO = Sso()


@pytest.fixture(scope="module", params=["file", "url"])
def jwks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "file":
        yield str(SSO.write_jwks(tmp_path_factory.mktemp("sso") / "jwks.json"))
    else:
        with jwks_server(SSO.jwks()) as url:
            yield url


def verifier(where: str, skew: float = 60, claims: ClaimNames | None = None) -> SsoVerifier:
    return SsoVerifier(key_source(where), ISSUER, AUDIENCE, skew, claims or ClaimNames())


async def test_a_well_signed_rs256_or_es256_token_names_its_caller(jwks: str) -> None:
    sso = verifier(jwks)
    expected = Identity("zhangsan@bank", Role.SUPERVISOR, "lead9", via="sso")
    assert await sso.identify(SSO.token("RS256")) == expected
    assert await sso.identify(SSO.token("ES256")) == expected
    risk = await sso.identify(SSO.token(role="risk", employee_id=None))
    assert risk == Identity("zhangsan@bank", Role.RISK, None, via="sso")


def bad_tokens() -> dict[str, str]:
    now = int(time.time())
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    good = SSO.token()
    header, payload, signature = good.split(".")
    return {
        "forged (another RSA key, same kid)": SSO.token("RS256", key=other_rsa),
        "forged (another EC key, same kid)": SSO.token("ES256", key=other_ec),
        "tampered payload": f"{header}.{SSO.token(role='admin').split('.')[1]}.{signature}",
        "expired": SSO.token(exp=now - 3600, nbf=now - 7200, iat=now - 7200),
        "expired just past the skew": SSO.token(exp=now - 120),
        "not yet valid": SSO.token(nbf=now + 3600),
        "wrong issuer": SSO.token(iss="https://evil.example"),
        "wrong audience": SSO.token(aud="another-app"),
        "no expiry": SSO.token(exp=None),
        "no audience": SSO.token(aud=None),
        "alg none": unsigned(SSO.claims()),
        "alg None, capitalised": unsigned(SSO.claims(), alg="None"),
        "HS256 with the public key as secret": _hs256_with_public_key(),
        "HS256 with a guessed secret": jwt.encode(
            SSO.claims(), "secret" * 8, algorithm="HS256", headers={"kid": "rsa-1"}
        ),
        "RS384 (not accepted)": jwt.encode(
            SSO.claims(), SSO.rsa, algorithm="RS384", headers={"kid": "rsa-1"}
        ),
        "unknown kid": jwt.encode(SSO.claims(), SSO.rsa, algorithm="RS256", headers={"kid": "x"}),
        "EC key named as RSA": jwt.encode(
            SSO.claims(), SSO.ec, algorithm="ES256", headers={"kid": "rsa-1"}
        ),
        "unknown role": SSO.token(role="root"),
        "supervisor without an employee id": SSO.token(employee_id=None),
        "malformed: three garbage parts": "abc.def.ghi",
        "malformed: not base64": "@@@.@@@.@@@",
        "malformed: empty signature part": f"{header}.{payload}.",
        "malformed: two parts": f"{header}.{payload}",
    }


def _hs256_with_public_key() -> str:
    """The classic confusion: HMAC keyed with the RSA public key. PyJWT refuses to sign with a
    PEM key as an HMAC secret, so the signature is made by hand."""
    import base64
    import hashlib
    import hmac
    import json

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{part(SSO.claims())}"
    mac = hmac.new(SSO.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


BAD = bad_tokens()


@pytest.mark.parametrize("case", sorted(BAD))
async def test_every_other_token_is_refused(jwks: str, case: str) -> None:
    assert await verifier(jwks).identify(BAD[case]) is None


async def test_the_clock_skew_is_allowed_and_bounded(jwks: str) -> None:
    now = int(time.time())
    late = SSO.token(exp=now - 30)
    early = SSO.token(nbf=now + 30)
    assert await verifier(jwks, skew=60).identify(late) is not None
    assert await verifier(jwks, skew=60).identify(early) is not None
    assert await verifier(jwks, skew=0).identify(late) is None
    assert await verifier(jwks, skew=0).identify(early) is None
    with pytest.raises(ValueError, match="300"):
        SsoSettings(
            sso_jwks=jwks, sso_issuer=ISSUER, sso_audience=AUDIENCE, sso_clock_skew_seconds=3600
        )


async def test_the_claim_names_are_configurable(jwks: str) -> None:
    sso = verifier(jwks, claims=ClaimNames(role="wq_role", employee_id="staff_no"))
    token = SSO.token(role=None, employee_id=None, wq_role="supervisor", staff_no="lead8")
    found = await sso.identify(token)
    assert found is not None and (found.role, found.employee_id) == (Role.SUPERVISOR, "lead8")
    assert await sso.identify(SSO.token()) is None  # the default claim names now mean nothing


def test_keys_come_over_https_only_from_another_machine() -> None:
    with pytest.raises(ValueError, match="https"):
        key_source("http://sso.bank.example/jwks.json")
    assert key_source("https://sso.bank.example/jwks.json") is not None  # fetched when used


def test_sso_settings_need_issuer_and_audience(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SSO_ISSUER"):
        SsoSettings(sso_jwks=str(tmp_path / "jwks.json"))
    assert SsoSettings().sso_verifier() is None


async def test_through_the_http_guard_each_refused_token_is_a_401(jwks: str) -> None:
    async def whoami(request: Request) -> Response:
        caller = identity_of(request)
        return JSONResponse({"role": caller.role.value, "employee_id": caller.employee_id})

    authn = Authenticator(sso=verifier(jwks))
    app = Starlette(routes=[Route("/who", authn.guard(Action.READ_ALERTS, whoami))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def status(token: str | None) -> int:
            headers = {"authorization": f"Bearer {token}"} if token is not None else {}
            return (await http.get("/who", headers=headers)).status_code

        ok = await http.get("/who", headers={"authorization": f"Bearer {SSO.token()}"})
        assert ok.status_code == 200 and ok.json() == {"role": "supervisor", "employee_id": "lead9"}
        for case, token in BAD.items():
            answer = await http.get("/who", headers={"authorization": f"Bearer {token}"})
            assert answer.status_code == 401, case
            assert answer.json()["error"] and answer.headers["www-authenticate"] == "Bearer"
        refused = REFUSED.labels("401")._value.get()
        assert await status(None) == 401
        assert REFUSED.labels("401")._value.get() == refused + 1  # counted for /metrics
        assert await status("") == 401
        assert await status(SSO.token(role="viewer", employee_id=None)) == 403  # a role, refused
        assert await status(SSO.token(role="ingest", employee_id=None)) == 403
