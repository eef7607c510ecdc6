"""WeCom callback signature and encryption, compatible with Tencent's WXBizMsgCrypt: pure, no I/O.

WeCom signs every callback with SHA-1 over the sorted [token, timestamp, nonce, encrypt] and
encrypts the message with AES-256-CBC (key = base64(EncodingAESKey + "="), IV = key[:16],
PKCS#7 padding to 32-byte blocks). The plaintext is 16 random bytes, the message length as a
4-byte big-endian integer, the message, then the receive id (the CorpID). docs/wecom.md section 2.

Unlike the sample, padding and lengths are checked strictly, signatures and the CorpID are
compared in constant time, and errors never carry the token or the key: they end up in logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["CallbackCrypto", "ErrorCode", "WeComCryptoError", "WeComError"]

BLOCK_SIZE = 32
"""WeCom pads to 32 bytes, not the AES block size of 16 (the sample's PKCS7Encoder)."""
RANDOM_PREFIX = 16
LENGTH_FIELD = 4
_KEY_PATTERN = re.compile(r"[A-Za-z0-9+/]{43}")


class ErrorCode(IntEnum):
    """The sample's error codes, so that logs and metrics read like Tencent's documentation."""

    SIGNATURE = -40001
    PARSE_XML = -40002
    ILLEGAL_AES_KEY = -40004
    CORP_ID_MISMATCH = -40005
    DECRYPT = -40007
    BASE64_DECODE = -40010


class WeComError(Exception):
    """Any refused callback: `.code` is the sample's error code, the message is safe to log."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"WeCom callback error {int(code)}: {message}")
        self.code = int(code)
        self.detail = message


class WeComCryptoError(WeComError):
    """Signature, key, decryption or CorpID failure; never names the token or the key."""


class CallbackCrypto:
    """One corp's callback configuration: Token, EncodingAESKey and CorpID (the receive id)."""

    __slots__ = ("_corp_id", "_key", "_token")

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        self._token = token
        self._key = _decode_aes_key(encoding_aes_key)
        self._corp_id = corp_id.encode("utf-8")

    def __repr__(self) -> str:
        """Only the CorpID: the object may be logged, the secrets must not be."""
        return f"CallbackCrypto(corp_id={self._corp_id.decode('utf-8')!r})"

    @property
    def corp_id(self) -> str:
        """The receive id every decrypted message must carry."""
        return self._corp_id.decode("utf-8")

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """msg_signature: SHA-1 hex of sorted [token, timestamp, nonce, encrypt], concatenated."""
        joined = "".join(sorted([self._token, timestamp, nonce, encrypt]))
        # Lone surrogates cannot come from WeCom; encoding them anyway keeps this total.
        data = joined.encode("utf-8", "surrogatepass")
        return hashlib.sha1(data).hexdigest()  # noqa: S324 - SHA-1 is what WeCom signs with

    def verify_signature(
        self, msg_signature: str, timestamp: str, nonce: str, encrypt: str
    ) -> None:
        """Raise -40001 unless `msg_signature` matches; constant time, so it leaks no prefix."""
        expected = self.signature(timestamp, nonce, encrypt).encode("ascii")
        given = msg_signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected, given):
            raise WeComCryptoError(ErrorCode.SIGNATURE, "msg_signature does not match")

    def decrypt(self, encrypt_b64: str) -> bytes:
        """The message inside `Encrypt` (or `echostr`); verify the signature first."""
        ciphertext = _b64decode(encrypt_b64)
        plaintext = _unpad(_aes_cbc_decrypt(self._key, ciphertext))
        message, receive_id = _split_plaintext(plaintext)
        if not hmac.compare_digest(receive_id, self._corp_id):
            raise WeComCryptoError(
                ErrorCode.CORP_ID_MISMATCH, "receive id does not match the configured CorpID"
            )
        return message

    def decrypt_verified(
        self, msg_signature: str, timestamp: str, nonce: str, encrypt: str
    ) -> bytes:
        """Signature check then decryption, in the only safe order (no padding oracle)."""
        self.verify_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt(self, msg: bytes, random16: bytes | None = None) -> str:
        """Encrypt a reply the way WeCom does; `random16` is fixed only by tests."""
        prefix = os.urandom(RANDOM_PREFIX) if random16 is None else random16
        if len(prefix) != RANDOM_PREFIX:
            raise ValueError(f"random16 must be {RANDOM_PREFIX} bytes, got {len(prefix)}")
        plaintext = prefix + len(msg).to_bytes(LENGTH_FIELD, "big") + msg + self._corp_id
        encryptor = _cipher(self._key).encryptor()
        ciphertext = encryptor.update(_pad(plaintext)) + encryptor.finalize()
        return base64.b64encode(ciphertext).decode("ascii")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification (GET): the decrypted echostr, to be answered verbatim."""
        plain = self.decrypt_verified(msg_signature, timestamp, nonce, echostr)
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeComCryptoError(ErrorCode.DECRYPT, "echostr plaintext is not UTF-8") from exc


def _decode_aes_key(encoding_aes_key: str) -> bytes:
    """43 base64 characters + "=" give the 32-byte AES-256 key; anything else is a config error.

    WeCom's keys are random alphanumerics whose last character has non-zero spare bits, so
    non-canonical base64 must be accepted (as the sample's b64decode does)."""
    if not isinstance(encoding_aes_key, str) or not _KEY_PATTERN.fullmatch(encoding_aes_key):
        raise WeComCryptoError(
            ErrorCode.ILLEGAL_AES_KEY, "EncodingAESKey must be 43 base64 characters"
        )
    return base64.b64decode(encoding_aes_key + "=", validate=True)


def _b64decode(encrypt_b64: str) -> bytes:
    """Strict base64: stray characters mean a damaged or forged body, not something to skip."""
    try:
        return base64.b64decode(encrypt_b64, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise WeComCryptoError(ErrorCode.BASE64_DECODE, "Encrypt is not valid base64") from exc


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    """AES-256-CBC with IV = key[:16], fixed by the protocol."""
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def _aes_cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Raw CBC decryption; the length is checked here so `cryptography` never sees a bad one."""
    if not ciphertext or len(ciphertext) % 16:
        raise WeComCryptoError(
            ErrorCode.DECRYPT, f"ciphertext length {len(ciphertext)} is not a multiple of 16"
        )
    decryptor = _cipher(key).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _pad(data: bytes) -> bytes:
    """PKCS#7 to 32-byte blocks: always 1..32 bytes of padding, each equal to the count."""
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    """Strict PKCS#7 removal: the sample tolerates bad padding, a forged body should not pass."""
    amount = data[-1]
    if not 1 <= amount <= BLOCK_SIZE or amount > len(data):
        raise WeComCryptoError(ErrorCode.DECRYPT, f"bad padding value {amount}")
    if data[-amount:] != bytes([amount]) * amount:
        raise WeComCryptoError(ErrorCode.DECRYPT, "bad padding bytes")
    return data[:-amount]


def _split_plaintext(plaintext: bytes) -> tuple[bytes, bytes]:
    """16 random bytes | 4-byte big-endian length | message | receive id."""
    header = RANDOM_PREFIX + LENGTH_FIELD
    if len(plaintext) < header:
        raise WeComCryptoError(ErrorCode.DECRYPT, "plaintext shorter than its header")
    length = int.from_bytes(plaintext[RANDOM_PREFIX:header], "big")
    if length > len(plaintext) - header:
        raise WeComCryptoError(ErrorCode.DECRYPT, "message length exceeds the plaintext")
    return plaintext[header : header + length], plaintext[header + length :]
