"""Safe parsing of the callback body and of the decrypted event: pure, no I/O.

The POST body arrives from the internet before its signature is checked, so it is hostile
until proven otherwise: DTDs, entity declarations and external references are refused outright
(defusedxml), which rules out billion-laughs expansion and file or network reads. WeCom itself
never sends any of them (docs/wecom.md section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml.common import DefusedXmlException

from services.ingestor.wecom.crypto import ErrorCode, WeComError

__all__ = ["Envelope", "WeComXmlError", "parse_envelope", "parse_event"]

ROOT_TAG = "xml"


class WeComXmlError(WeComError):
    """Malformed or hostile XML, or a body without the fields WeCom always sends (-40002)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.PARSE_XML, message)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The outer POST body: who it is for, the ciphertext, and the agent (may be absent)."""

    to_user_name: str
    encrypt: str
    agent_id: str | None


def parse_envelope(body: bytes | str) -> Envelope:
    """`<xml><ToUserName/><Encrypt/><AgentID/></xml>`; ToUserName routes, Encrypt is required."""
    fields = _flat_fields(_parse(body))
    encrypt = fields.get("Encrypt", "")
    if not encrypt:
        raise WeComXmlError("callback body has no Encrypt element")
    to_user_name = fields.get("ToUserName", "")
    if not to_user_name:
        raise WeComXmlError("callback body has no ToUserName element")
    return Envelope(
        to_user_name=to_user_name, encrypt=encrypt, agent_id=fields.get("AgentID") or None
    )


def parse_event(xml_bytes: bytes | str) -> dict[str, str]:
    """The decrypted event as {tag: text} of the root's children, kept whole for `raw`."""
    return _flat_fields(_parse(xml_bytes))


def _parse(data: bytes | str) -> Element:
    """Parse with every XML expansion feature forbidden; any failure becomes WeComXmlError."""
    try:
        root: Element = DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise WeComXmlError(
            f"hostile XML refused ({type(exc).__name__}): DTDs, entities and external "
            "references are not allowed"
        ) from exc
    except (ParseError, ValueError, LookupError, TypeError) as exc:
        # ValueError covers text that cannot be encoded (lone surrogates); LookupError an
        # unknown encoding; TypeError a body of the wrong type.
        raise WeComXmlError(f"malformed XML: {exc}") from exc
    if root.tag != ROOT_TAG:
        raise WeComXmlError(f"root element must be <{ROOT_TAG}>, got <{root.tag}>")
    return root


def _flat_fields(root: Element) -> dict[str, str]:
    """Direct children only; the first of a repeated tag wins, so a later copy cannot override.

    Nested elements (which no contact event has) keep their own, usually blank, text."""
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str):
            fields.setdefault(child.tag, child.text or "")
    return fields
