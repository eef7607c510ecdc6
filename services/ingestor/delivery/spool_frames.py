"""How records sit in a spool segment, and how they are found again, whatever a crash left.

A record is a frame: magic, CRC-32, payload length, payload (the record's JSON line,
`Outgoing.to_line`); the checksum covers the length and the payload. The magic starts with
0xF5, a byte UTF-8 never uses, so it cannot occur inside a payload: after a torn or corrupt
frame the reader looks for the next magic whose frame checks out and carries on from there,
so one bad record never hides the valid records after it. Spools written before segments
existed hold bare JSON lines (`spool.ndjson`); `scan_lines` reads those the same way.

Pure functions over bytes, plus readers of a file range: no locks, no state."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.ingestor.delivery.outgoing import Outgoing

MAGIC = b"\xf5WQ1"
HEADER = struct.Struct("<4sII")  # magic, CRC-32 of what follows it, payload length
CHECKED_FROM = 8  # the checksum covers the frame from the length on
MAX_PAYLOAD = 16 * 1024 * 1024  # far above any callback (WECOM_CALLBACK_MAX_BODY_BYTES)
READ_BYTES = 64 * 1024  # per read of a segment, replaying
COUNT_BYTES = 1024 * 1024  # per read of a segment, counting at start

_INCOMPLETE = -1  # the frame may be whole once more bytes are read
_INVALID = -2  # no valid frame starts here


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of a segment: one record's payload, or bytes that are no record (`None`: torn
    by a crash mid-append, or failing their checksum). Offsets are the segment's."""

    start: int
    end: int
    payload: bytes | None


# (bytes, offset of their first byte, no more bytes follow, records wanted) → pieces, bytes used
Scanner = Callable[[bytes, int, bool, int], tuple[list[Piece], int]]


def frame(item: Outgoing) -> bytes:
    payload = item.to_line()
    checked = len(payload).to_bytes(4, "little") + payload  # a flipped length bit fails too
    return MAGIC + zlib.crc32(checked).to_bytes(4, "little") + checked


def scan_frames(buf: bytes, base: int, final: bool, limit: int) -> tuple[list[Piece], int]:
    """Frames from the start of `buf` until `limit` records; without `final`, stops before a
    frame that may continue past `buf`. Returns the pieces and how many bytes they span."""
    pieces: list[Piece] = []
    view = memoryview(buf)
    records = pos = 0
    while pos < len(buf) and records < limit:
        end = _frame_end(buf, view, pos)
        if end > 0:
            pieces.append(Piece(base + pos, base + end, buf[pos + HEADER.size : end]))
            records += 1
            pos = end
            continue
        if end == _INCOMPLETE and not final:
            break
        resume = _next_candidate(buf, pos + 1, final)
        if resume <= pos:
            break  # a magic may straddle the end of `buf`: decide once more is read
        _add_unreadable(pieces, base + pos, base + resume)
        pos = resume
    return pieces, pos


def _frame_end(buf: bytes, view: memoryview, pos: int) -> int:
    if len(buf) - pos < HEADER.size:
        return _INCOMPLETE
    magic: bytes
    checksum: int
    length: int
    magic, checksum, length = HEADER.unpack_from(buf, pos)
    if magic != MAGIC or not 0 < length <= MAX_PAYLOAD:
        return _INVALID
    end = pos + HEADER.size + length
    if end > len(buf):
        return _INCOMPLETE
    if zlib.crc32(view[pos + CHECKED_FROM : end]) != checksum:
        return _INVALID
    return end


def _next_candidate(buf: bytes, start: int, final: bool) -> int:
    """Where the next frame may start: the next magic; with none, the end of what can be
    judged now (all of `buf` when final, else short of a magic cut in two)."""
    found = buf.find(MAGIC, start)
    if found >= 0:
        return found
    return len(buf) if final else len(buf) - len(MAGIC) + 1


def scan_lines(buf: bytes, base: int, final: bool, limit: int) -> tuple[list[Piece], int]:
    """The format before segments: one JSON line per record; a last line without its newline
    is a crash mid-append (never acknowledged to WeCom, which retries it)."""
    pieces: list[Piece] = []
    pos = 0
    while pos < len(buf) and len(pieces) < limit:
        newline = buf.find(b"\n", pos)
        if newline < 0:
            if final:
                _add_unreadable(pieces, base + pos, base + len(buf))
                pos = len(buf)
            break
        pieces.append(Piece(base + pos, base + newline + 1, buf[pos : newline + 1]))
        pos = newline + 1
    return pieces, pos


def _add_unreadable(pieces: list[Piece], start: int, end: int) -> None:
    """One piece per unreadable stretch, however many false starts the search made in it."""
    if pieces and pieces[-1].payload is None and pieces[-1].end == start:
        pieces[-1] = Piece(pieces[-1].start, end, None)
    else:
        pieces.append(Piece(start, end, None))


def read_pieces(
    path: Path, start: int, end: int, limit: int, scan: Scanner, ahead: bytes = b""
) -> tuple[list[Piece], bytes]:
    """Up to `limit` records of the file's bytes [start, end), with the unreadable stretches
    among them, and the bytes read past the last of them. `ahead`: bytes from `start` on that
    the previous call read past its last record, so that consecutive batches read each byte
    once."""
    pieces: list[Piece] = []
    records = 0
    buf = ahead[: end - start]
    base, read_to = start, start + len(buf)
    with path.open("rb", buffering=0) as segment:
        segment.seek(read_to)
        while True:
            final = read_to >= end
            found, used = scan(buf, base, final, limit - records)
            for piece in found:
                if piece.payload is None:
                    _add_unreadable(pieces, piece.start, piece.end)
                else:
                    pieces.append(piece)
                    records += 1
            buf, base = buf[used:], base + used
            if final or records >= limit:
                return pieces, buf
            # a long record waiting whole in `buf`: reads grow with it (copies stay linear)
            data = segment.read(min(max(READ_BYTES, len(buf)), end - read_to))
            if not data:
                end = read_to  # a shorter file than expected ends here
            read_to += len(data)
            buf += data


def count_marks(path: Path, start: int, end: int, mark: bytes) -> int:
    """How many times `mark` (a frame's magic, or a line's newline) occurs in [start, end), at
    the speed of a read: every record has exactly one, so this is the number of records when
    nothing is damaged, and never fewer (a torn or corrupt frame is counted until the replay
    passes it)."""
    count = 0
    carry = b""  # the previous read's last bytes, too few to hold a mark: one cut in two
    with path.open("rb", buffering=0) as segment:
        segment.seek(start)
        while start < end:
            data = segment.read(min(COUNT_BYTES, end - start))
            if not data:
                break
            start += len(data)
            joined = carry + data
            count += joined.count(mark)
            carry = joined[max(0, len(joined) - len(mark) + 1) :]
    return count
