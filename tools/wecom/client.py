"""What WeCom's servers do, for the simulator and the tests: encrypt and sign callbacks for a corp.

A second implementation of the protocol (docs/wecom.md section 2), kept independent of
services.ingestor.wecom.crypto so that tests check interoperability rather than one module
agreeing with itself: it frames with `struct`, pads with `cryptography`'s PKCS7 and builds the
body with CDATA sections as WeCom does. It also offers the raw steps tests need to forge
broken messages (wrong receive id, bad padding, short plaintexts).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import struct
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.clock import Clock, system_clock

DEFAULT_AGENT_ID = "1000002"
_KEY_ALPHABET = string.ascii_letters + string.digits


def random_aes_key() -> str:
    """A fresh 43-character EncodingAESKey, alphanumeric like the ones WeCom's console makes."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(43))


def random_digits(length: int = 10) -> str:
    """Nonces and echostrs are decimal strings in WeCom's requests."""
    return "".join(secrets.choice(string.digits) for _ in range(length))


def cdata(text: str) -> str:
    """A CDATA section that survives a `]]>` inside the text."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass(frozen=True)
class Callback:
    """One POST as WeCom sends it: query parameters and XML body."""

    params: dict[str, str]
    body: bytes
    encrypt: str

    @property
    def query(self) -> str:
        """The URL query string (msg_signature, timestamp, nonce), URL-encoded."""
        return urlencode(self.params)


@dataclass(frozen=True)
class UrlVerification:
    """One GET as WeCom sends it when the callback URL is saved, and the answer it expects."""

    params: dict[str, str]
    expected_answer: str

    @property
    def query(self) -> str:
        """The URL query string with echostr, URL-encoded (its +, / and = get escaped)."""
        return urlencode(self.params)


class WeComClient:
    """WeCom's side of one corp's callback configuration."""

    def __init__(
        self, token: str, encoding_aes_key: str, corp_id: str, clock: Clock = system_clock
    ) -> None:
        # WeCom stamps each callback with its time; a test that shifts the ingestor's clock
        # gives this stand-in the same clock, or the replay window would refuse every call.
        self.clock = clock
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.corp_id = corp_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32, "EncodingAESKey must decode to 32 bytes"

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """SHA-1 hex over the sorted concatenation of token, timestamp, nonce, ciphertext."""
        parts = sorted((self.token, timestamp, nonce, encrypt))
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def frame(
        self, msg: bytes, *, random16: bytes | None = None, receive_id: str | None = None
    ) -> bytes:
        """random(16) | length (big-endian uint32) | msg | receive id, before padding."""
        prefix = secrets.token_bytes(16) if random16 is None else random16
        rid = self.corp_id if receive_id is None else receive_id
        return prefix + struct.pack(">I", len(msg)) + msg + rid.encode("utf-8")

    def encrypt(
        self, msg: bytes, *, random16: bytes | None = None, receive_id: str | None = None
    ) -> str:
        """Frame, pad to 32-byte blocks, AES-256-CBC, base64: the content of <Encrypt>."""
        padder = padding.PKCS7(256).padder()
        framed = self.frame(msg, random16=random16, receive_id=receive_id)
        return self.encrypt_raw(padder.update(framed) + padder.finalize())

    def encrypt_raw(self, plaintext: bytes) -> str:
        """AES-256-CBC over bytes taken as they are (a multiple of 16): for forged messages."""
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> tuple[bytes, str]:
        """What WeCom does with an encrypted reply: (message, receive id)."""
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        padded = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
        unpadder = padding.PKCS7(256).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        (length,) = struct.unpack(">I", plain[16:20])
        return plain[20 : 20 + length], plain[20 + length :].decode("utf-8")

    def callback(
        self,
        message: bytes | str,
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
        agent_id: str | None = DEFAULT_AGENT_ID,
        encrypt: str | None = None,
    ) -> Callback:
        """A signed POST carrying `message`; pass `encrypt` to sign a ciphertext of your own."""
        msg = message.encode("utf-8") if isinstance(message, str) else message
        ciphertext = self.encrypt(msg) if encrypt is None else encrypt
        ts = str(int(self.clock().timestamp())) if timestamp is None else timestamp
        nc = random_digits() if nonce is None else nonce
        params = {"msg_signature": self.sign(ts, nc, ciphertext), "timestamp": ts, "nonce": nc}
        body = (
            f"<xml><ToUserName>{cdata(self.corp_id)}</ToUserName>"
            f"<Encrypt>{cdata(ciphertext)}</Encrypt>"
            f"<AgentID>{cdata(agent_id or '')}</AgentID></xml>"
        )
        return Callback(params=params, body=body.encode("utf-8"), encrypt=ciphertext)

    def url_verification(
        self, echo: str | None = None, *, timestamp: str | None = None, nonce: str | None = None
    ) -> UrlVerification:
        """A signed GET whose echostr decrypts to `echo` (random digits by default)."""
        answer = random_digits(19) if echo is None else echo
        echostr = self.encrypt(answer.encode("utf-8"))
        ts = str(int(self.clock().timestamp())) if timestamp is None else timestamp
        nc = random_digits() if nonce is None else nonce
        params = {
            "msg_signature": self.sign(ts, nc, echostr),
            "timestamp": ts,
            "nonce": nc,
            "echostr": echostr,
        }
        return UrlVerification(params=params, expected_answer=answer)
