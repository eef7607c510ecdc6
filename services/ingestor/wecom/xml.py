"""Safe parsing of the callback body and of the decrypted event: pure, no I/O.

The POST body arrives from the internet before its signature is checked, so it is hostile
until proven otherwise: DTDs, entity declarations and external references are refused outright
(the handlers defusedxml installs, set here on expat directly), which rules out billion-laughs
expansion and file or network reads. WeCom itself never sends any of them (WECOM.md section 2).

Both documents are flat, so no element tree is built: expat (C) reports the direct children of
the root and their text. defusedxml's parser, the pure-Python ElementTree one, cost twice as
much CPU as the rest of the parsing on the callback path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

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
    fields = _flat_fields(body)
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
    return _flat_fields(xml_bytes)


class _HostileXmlError(Exception):
    """A DTD, an entity declaration or an external reference: refused as soon as seen."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _refuse(what: str) -> NoReturn:
    raise _HostileXmlError(what)


class _FlatReader:
    """expat handlers collecting {tag: text} of the root's direct children."""

    __slots__ = ("depth", "fields", "reading", "root", "text")

    def __init__(self) -> None:
        self.depth = 0
        self.root = ""
        self.reading = False
        self.text: list[str] = []
        self.fields: dict[str, str] = {}

    def start(self, name: str, _attributes: object) -> None:
        self.depth += 1
        if self.depth == 1:
            self.root = name
        elif self.depth == 2:
            self.text.clear()
            self.reading = True
        else:
            self.reading = False  # a child's text is what precedes its own first child

    def end(self, name: str) -> None:
        if self.depth == 2:
            self.fields.setdefault(_tag(name), "".join(self.text))
            self.reading = False
        self.depth -= 1

    def character_data(self, data: str) -> None:
        if self.reading:
            self.text.append(data)


def _flat_fields(data: bytes | str) -> dict[str, str]:
    """{tag: text} of the root's direct children; the root must be <xml>. The first of a
    repeated tag wins, so a later copy cannot override; nested elements (which no WeCom
    document has) add nothing. Every parse failure becomes WeComXmlError."""
    reader = _FlatReader()
    parser = expat.ParserCreate(None, "}")
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.character_data
    parser.StartDoctypeDeclHandler = lambda *_: _refuse("DTDForbidden")
    parser.EntityDeclHandler = lambda *_: _refuse("EntitiesForbidden")
    parser.UnparsedEntityDeclHandler = lambda *_: _refuse("EntitiesForbidden")
    parser.ExternalEntityRefHandler = lambda *_: _refuse("ExternalReferenceForbidden")
    try:
        parser.Parse(data, True)
    except _HostileXmlError as exc:
        raise WeComXmlError(
            f"hostile XML refused ({exc.what}): DTDs, entities and external "
            "references are not allowed"
        ) from exc
    except (expat.ExpatError, ValueError, LookupError, TypeError) as exc:
        # ValueError covers text that cannot be encoded (lone surrogates); LookupError an
        # unknown encoding; TypeError a body of the wrong type.
        raise WeComXmlError(f"malformed XML: {exc}") from exc
    root = _tag(reader.root)
    if root != ROOT_TAG:
        raise WeComXmlError(f"root element must be <{ROOT_TAG}>, got <{root}>")
    return reader.fields


def _tag(name: str) -> str:
    """ElementTree's spelling: a namespaced `uri}local` from expat is `{uri}local`."""
    return "{" + name if "}" in name else name
