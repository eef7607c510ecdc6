"""Files the code generates and the repository keeps (dashboards, AsyncAPI documents): write
them, or with `--check` write nothing and name the ones that differ from what the code makes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def write_or_check(generated: dict[str, str], out: Path, check: bool, regenerate: str) -> int:
    """Write each `name: text` under `out`; with `check`, exit status 1 naming every file
    that differs (`regenerate`: the command that brings them up to date)."""
    stale = []
    for name, text in generated.items():
        path = out / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run `{regenerate}`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def arguments(description: str | None, prog: str, out: Path) -> argparse.Namespace:
    """`--check` and `--out` (default `out`), the options every generator takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out", type=Path, default=out)
    return parser.parse_args()
