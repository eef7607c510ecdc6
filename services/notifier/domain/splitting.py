"""Splitting a long message into parts that each fit a channel's byte limit (UTF-8).

WeCom refuses a robot markdown over 4096 bytes; a supervisor with forty missed targets must
get every line, in order, across as few messages as possible, each with its own header."""

from __future__ import annotations

from collections.abc import Callable, Sequence

ROBOT_MARKDOWN_LIMIT = 4096
APP_MARKDOWN_LIMIT = 2048


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, limit: int, marker: str = "…") -> str:
    """At most `limit` bytes, cut on a character boundary, marked when cut."""
    if utf8_len(text) <= limit:
        return text
    room = max(limit - utf8_len(marker), 0)
    cut = text.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + marker


def split_lines(
    header: Callable[[int, int], str],
    lines: Sequence[str],
    limit: int,
    footer: str = "",
) -> list[str]:
    """Pack `lines` into parts of at most `limit` bytes: `header(i, n)` + lines + `footer`.

    The header may show "(i/n)"; its length is reserved at its widest (n up to 999). A line
    that cannot fit even alone is truncated rather than dropped."""
    reserve = utf8_len(header(999, 999)) + utf8_len(footer) + 2
    room = limit - reserve
    if room <= 16:
        raise ValueError(f"limit {limit} leaves no room for content after header and footer")
    bodies: list[list[str]] = [[]]
    used = 0
    for raw in lines:
        line = truncate_utf8(raw, room - 1)
        size = utf8_len(line) + 1
        if bodies[-1] and used + size > room:
            bodies.append([])
            used = 0
        bodies[-1].append(line)
        used += size
    total = len(bodies)
    parts = []
    for i, body in enumerate(bodies, start=1):
        text = header(i, total) + "\n" + "\n".join(body)
        if footer:
            text += "\n" + footer
        parts.append(text)
    return parts
