"""Every document reference resolves inside the repository.

The product, contract and WeCom documents are docs/product.md, docs/contract.md and
docs/wecom.md; nothing may cite the old names outside the repository, and every relative
markdown link in the top-level documents and docs/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED_DIRS = ("services", "shared", "tools", "tests", "bench", "deploy", "docs")
SCANNED_FILES = ("README.md", "RELIABILITY.md")
SKIPPED_PARTS = {".venv", ".git", ".run", "__pycache__", "node_modules"}
TEXT_SUFFIXES = {
    ".py", ".md", ".json", ".sql", ".yml", ".yaml", ".toml", ".txt", ".sh", ".html", ".ini",
    ".cfg", ".j2", ".env", ".conf",
}  # fmt: skip
OLD_NAMES = re.compile(r"(PRODUCT|CONTRACT|WECOM)\.md")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for top in SCANNED_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if (
                path.is_file()
                and path.suffix in TEXT_SUFFIXES
                and not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts)
                and path.resolve() != Path(__file__).resolve()
            ):
                files.append(path)
    return files


def test_no_citation_of_documents_outside_the_repository() -> None:
    hits = []
    for path in scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if OLD_NAMES.search(line):
                hits.append(f"{rel}:{lineno}: {line.strip()[:120]}")
    assert not hits, "cite docs/product.md, docs/contract.md, docs/wecom.md instead:\n" + (
        "\n".join(hits)
    )


def markdown_documents() -> list[Path]:
    docs = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    return docs + sorted((ROOT / "docs").glob("*.md"))


def test_relative_markdown_links_resolve() -> None:
    broken = []
    for doc in markdown_documents():
        text = FENCE.sub("", doc.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            target = target.strip("<>")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # a URL (http:, mailto:, …) or an anchor in the same document
            path = target.split("#", 1)[0].split("?", 1)[0]
            resolved = (ROOT / path.lstrip("/")) if path.startswith("/") else doc.parent / path
            if not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT).as_posix()}: ]({target})")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_the_documents_exist() -> None:
    for name in ("product.md", "contract.md", "wecom.md"):
        assert (ROOT / "docs" / name).is_file(), name
