"""`python -m tools.inbox FILE` (`make inbox`): what the local WeCom stand-in received (group
robot messages, app messages, e-mail; tools/wecom_standin.py writes FILE), oldest first.

    python -m tools.inbox .run/wecom/inbox.jsonl [--channel robot|app|email] [--last 20]"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

CHANNELS = ("robot", "app", "email")


def messages(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_bytes().splitlines():
        if line.strip():
            yield orjson.loads(line)


def render(message: dict[str, Any]) -> str:
    at = datetime.fromtimestamp(float(message["at"])).strftime("%Y-%m-%d %H:%M:%S")
    to = ", ".join(message.get("to") or [])
    head = f"── {at}  {message['channel']} → {to}"
    if message.get("subject"):
        head += f"\n   subject: {message['subject']}"
    body = "\n".join("   " + line for line in str(message.get("text", "")).splitlines())
    return f"{head}\n{body}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.inbox", description=__doc__)
    p.add_argument("file", type=Path)
    p.add_argument("--channel", choices=CHANNELS)
    p.add_argument("--last", type=int, default=0, help="only the last N (0: all)")
    args = p.parse_args(argv)
    found = [m for m in messages(args.file) if args.channel in (None, m["channel"])]
    if not found:
        print(f"nothing received yet ({args.file})", file=sys.stderr)
        return 0
    for message in found[-args.last :] if args.last else found:
        print(render(message))
    counts = Counter(m["channel"] for m in found)
    print(", ".join(f"{counts[c]} {c}" for c in CHANNELS if counts[c]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
