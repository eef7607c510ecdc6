"""tools/audit_lock.py never reports an audit that could not ask as clean."""

from __future__ import annotations

from typing import Any

from tools.audit_lock import INCOMPLETE, OK, UNREACHABLE, VULNERABLE, classify


def dep(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1.0", **extra}


def test_every_package_checked_and_none_vulnerable_is_clean() -> None:
    report = {"dependencies": [dep("a", vulns=[]), dep("b", vulns=[])], "fixes": []}
    outcome = classify(report, 0, "", "pypi")
    assert outcome.code == OK
    assert "2 locked packages checked" in outcome.lines[0]


def test_no_package_answered_is_unreachable_not_clean() -> None:
    # What pip-audit reports, with exit 0, when the index answers but its per-release JSON does not.
    skip = "Dependency not found on PyPI and could not be audited: a (1.0)"
    report = {"dependencies": [{"name": "a", "skip_reason": skip}] * 3, "fixes": []}
    outcome = classify(report, 0, "", "pypi")
    assert outcome.code == UNREACHABLE
    assert "NOTHING WAS AUDITED" in outcome.lines[0]


def test_a_connection_error_without_a_report_is_unreachable() -> None:
    stderr = (
        "Traceback (most recent call last):\n"
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443): "
        "Max retries exceeded with url: /v1/query\n"
    )
    outcome = classify(None, 1, stderr, "osv")
    assert outcome.code == UNREACHABLE
    assert outcome.lines[-1].startswith("requests.exceptions.ConnectionError")


def test_another_failure_without_a_report_is_incomplete() -> None:
    outcome = classify(None, 2, "error: bad requirement line\n", "pypi")
    assert outcome.code == INCOMPLETE


def test_some_packages_unchecked_is_incomplete() -> None:
    report = {"dependencies": [dep("a", vulns=[]), {"name": "b", "skip_reason": "gone"}]}
    outcome = classify(report, 0, "", "pypi")
    assert outcome.code == INCOMPLETE
    assert "b: gone" in outcome.lines[-1]


def test_a_vulnerability_is_listed_with_its_fix() -> None:
    vuln = {"id": "GHSA-xxxx", "fix_versions": ["1.2"], "aliases": ["CVE-2026-1"]}
    report = {"dependencies": [dep("a", vulns=[vuln]), dep("b", vulns=[])]}
    outcome = classify(report, 1, "", "pypi")
    assert outcome.code == VULNERABLE
    assert "a 1.0: GHSA-xxxx (CVE-2026-1); fixed in: 1.2" in outcome.lines[1]
