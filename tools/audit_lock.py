"""pip-audit against the dependency lock, never reported clean when it could not ask.

``python -m tools.audit_lock`` (``make audit``, and ``.ci/run``) runs pip-audit on
requirements-dev.lock, which holds every pin of requirements.lock too (tests/unit/test_lock.py).
pip-audit alone exits 0 with "No known vulnerabilities found" when its advisory source answers
no question at all — PyPI's per-release JSON answering 404 for every package, as it does from a
network that reaches only the package index — so its JSON report is read here instead:

- exit 0: every locked package was checked, no known vulnerability (apart from ``IGNORED``);
- exit 1: vulnerabilities, listed with the versions that fix them;
- exit 2: the audit is incomplete (some packages were not checked) or pip-audit failed;
- exit 3: no advisory source answered for any package: nothing was audited.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOCK = ROOT / "requirements-dev.lock"

OK, VULNERABLE, INCOMPLETE, UNREACHABLE = 0, 1, 2, 3

# Vulnerabilities accepted on purpose: ID -> why (no fixed version within pyproject.toml's
# ranges is served, or the affected code is not used). Each is passed as --ignore-vuln.
IGNORED: dict[str, str] = {}

# What pip-audit says when the advisory source itself could not be reached.
NETWORK_ERRORS = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "NameResolutionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
)


@dataclass
class Outcome:
    code: int
    lines: list[str] = field(default_factory=list)


def classify(report: dict[str, Any] | None, returncode: int, stderr: str, service: str) -> Outcome:
    """The verdict on one pip-audit run from its JSON report (None when it wrote none)."""
    if report is None:
        tail = [line for line in stderr.strip().splitlines() if line.strip()][-5:]
        if any(marker in stderr for marker in NETWORK_ERRORS):
            unreachable = f"pip-audit could not reach its advisory source ({service})"
            return Outcome(UNREACHABLE, [f"{unreachable}: NOTHING WAS AUDITED", *tail[-1:]])
        failed = f"pip-audit failed (exit {returncode}) without a report"
        return Outcome(INCOMPLETE, [failed, *tail])

    deps: list[dict[str, Any]] = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        lines = [f"{len(vulnerable)} locked package(s) with known vulnerabilities:"]
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
                aliases = ", ".join(vuln.get("aliases") or [])
                lines.append(
                    f"  {dep['name']} {dep.get('version', '?')}: {vuln['id']}"
                    + (f" ({aliases})" if aliases else "")
                    + f"; fixed in: {fixes}"
                )
        lines.append(
            "upgrade within pyproject.toml's ranges (make lock LOCK_ARGS='--upgrade-package NAME')"
            " or list the ID in IGNORED (tools/audit_lock.py) with the reason"
        )
        if skipped:
            lines.append(f"(and {len(skipped)} package(s) could not be checked)")
        return Outcome(VULNERABLE, lines)
    if deps and len(skipped) == len(deps):
        return Outcome(
            UNREACHABLE,
            [
                f"the advisory source ({service}) answered for none of the {len(deps)} locked"
                " packages: NOTHING WAS AUDITED",
                f"first answer: {skipped[0]['skip_reason']}",
            ],
        )
    if skipped:
        return Outcome(
            INCOMPLETE,
            [f"{len(skipped)} of {len(deps)} locked packages could not be checked:"]
            + [f"  {d['name']}: {d['skip_reason']}" for d in skipped],
        )
    if not deps:
        return Outcome(INCOMPLETE, ["pip-audit found no packages in the lock"])
    ignored = f" (ignored on purpose: {', '.join(sorted(IGNORED))})" if IGNORED else ""
    checked = f"{len(deps)} locked packages checked against {service}"
    return Outcome(OK, [f"{checked}: no known vulnerabilities{ignored}"])


def run_pip_audit(lock: Path, service: str, timeout: int) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        cmd = [
            sys.executable, "-m", "pip_audit",
            "--requirement", str(lock),
            "--disable-pip",  # the lock is fully pinned and hashed: nothing to resolve
            "--vulnerability-service", service,
            "--timeout", str(timeout),
            "--progress-spinner", "off",
            "--format", "json",
            "--output", str(out),
        ]  # fmt: skip
        for vuln_id in sorted(IGNORED):
            cmd += ["--ignore-vuln", vuln_id]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        report = json.loads(out.read_text()) if out.is_file() and out.stat().st_size else None
    return classify(report, proc.returncode, proc.stderr, service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument(
        "--service",
        default="pypi",
        choices=["pypi", "osv", "esms"],
        help="pip-audit's advisory source (make audit AUDIT_SERVICE=osv)",
    )
    parser.add_argument("--timeout", type=int, default=30)
    args = parser.parse_args(argv)
    outcome = run_pip_audit(args.lock, args.service, args.timeout)
    stream = sys.stdout if outcome.code == OK else sys.stderr
    label = {OK: "ok", VULNERABLE: "FAILED", INCOMPLETE: "FAILED", UNREACHABLE: "FAILED"}
    print(f"pip-audit {args.lock.name}: {label[outcome.code]}", file=stream)
    for line in outcome.lines:
        print(f"  {line}", file=stream)
    return outcome.code


if __name__ == "__main__":
    raise SystemExit(main())
