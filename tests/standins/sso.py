"""A stand-in for the bank's SSO: RSA and EC signing keys made with cryptography, their JWKS
(written to a file or served over local HTTP), and JWTs signed as the SSO would, or not."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://sso.bank.example"
AUDIENCE = "wecom-quota"


class Sso:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        rsa_jwk |= {"kid": "rsa-1", "use": "sig", "alg": "RS256"}
        ec_jwk |= {"kid": "ec-1", "use": "sig", "alg": "ES256"}
        return {"keys": [rsa_jwk, ec_jwk]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "zhangsan@bank",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "role": "supervisor",
            "employee_id": "lead9",
        }
        return {k: v for k, v in (base | overrides).items() if v is not None}

    def token(self, algorithm: str = "RS256", key: Any = None, **claims: Any) -> str:
        kid = "rsa-1" if algorithm == "RS256" else "ec-1"
        signer = key or (self.rsa if algorithm == "RS256" else self.ec)
        return jwt.encode(self.claims(**claims), signer, algorithm=algorithm, headers={"kid": kid})

    def public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def unsigned(claims: dict[str, Any], kid: str = "rsa-1", alg: str = "none") -> str:
    """An `alg: none` JWT, hand-made (PyJWT will not make one)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[str]:
    """The JWKS over local HTTP; yields its URL."""
    body = json.dumps(document).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
