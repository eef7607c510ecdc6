"""A batch's rows as one statement parameter.

asyncpg encodes a list parameter element by element, and checks each element against
`collections.abc` (is it a nested array?): a batch's 3,000 counter rows of 21 columns took
20 ms to send as 23 arrays. The same rows as one JSON text, which PostgreSQL parses in C
(`json_to_recordset`), took 6 ms, parsing included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson


def recordset(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows for `FROM json_to_recordset($n::text::json) AS x(...)` (`columns`). A key a
    row leaves out reads as NULL, and so does a JSON null (into a jsonb column too). Values
    are typed strictly: an int column takes integers only, and a float that is not finite is
    written as null. Aware datetimes only (a naive one would be read in the session's zone).
    Passed as text, not json: it does not depend on the connection's json codec."""
    return orjson.dumps(list(rows)).decode()


def columns(typed: Sequence[tuple[str, str]]) -> str:
    """The column definitions after `AS x`: `(name type, ...)`."""
    return "(" + ", ".join(f"{name} {kind}" for name, kind in typed) + ")"
