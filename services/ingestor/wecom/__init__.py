"""WeCom callback protocol: signature, encryption, safe XML and event normalization.

All pure, no I/O: the HTTP receiver verifies, decrypts, parses and normalizes with these, then
stores before it acknowledges (docs/wecom.md section 2)."""

from services.ingestor.wecom.crypto import CallbackCrypto, ErrorCode, WeComCryptoError, WeComError
from services.ingestor.wecom.events import (
    CONTACT_CHANGE_TYPES,
    CONTACT_EVENT,
    WeComEvent,
    WeComEventError,
    dedup_key,
    normalize,
)
from services.ingestor.wecom.xml import Envelope, WeComXmlError, parse_envelope, parse_event

__all__ = [
    "CONTACT_CHANGE_TYPES",
    "CONTACT_EVENT",
    "CallbackCrypto",
    "Envelope",
    "ErrorCode",
    "WeComCryptoError",
    "WeComError",
    "WeComEvent",
    "WeComEventError",
    "WeComXmlError",
    "dedup_key",
    "normalize",
    "parse_envelope",
    "parse_event",
]
