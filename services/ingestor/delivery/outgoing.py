"""One record on its way to a topic: pure data, the unit both Kafka and the spool store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Topic, key and JSON value: what a Kafka record needs, and all the spool keeps."""

    topic: str
    key: str
    value: bytes

    def to_line(self) -> bytes:
        """One spool line: the value is JSON already, embedded as a string so the line is
        valid JSON whatever the value holds."""
        doc = {"topic": self.topic, "key": self.key, "value": self.value.decode("utf-8")}
        return orjson.dumps(doc) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Outgoing:
        doc: dict[str, Any] = orjson.loads(line)
        return cls(topic=doc["topic"], key=doc["key"], value=doc["value"].encode("utf-8"))
