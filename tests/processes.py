"""A service as a real process (`python -m services.<name>`): started, killed (-9), stopped,
waited on until ready, its output kept in a log file shown when it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.apps import eventually
from tests.infra import ROOT

MAKE_UP_PROCESSES: dict[str, dict[str, str]] = {
    "ingestor": {},
    "scorer-consume": {"SCORER_ROLE": "consume"},
    "scorer-refresh": {"SCORER_ROLE": "refresh"},
    "scorer": {"SCORER_ROLE": "api"},
    "notifier": {},
}
"""The service processes as `make up` runs them (deploy/local/services.sh), each with the
settings that make it what it is: the scorer as its read API, its consumer and its refresh,
the three targets of Prometheus's scorer job. `scorer-consume` runs `services.scorer`."""


@dataclass
class Service:
    """One service as a real process (`python -m services.<name>`), its log kept for failures."""

    module: str
    env: dict[str, str]
    log: Path
    args: tuple[str, ...] = ()  # after `python -m <module>`
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Service:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=out,
        )
        self.starts += 1
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{self.module} exited: {tail}")
        return True

    async def ready(self, port: int, timeout: float = 90) -> None:
        async with httpx.AsyncClient() as client:

            async def status() -> int:
                self.alive()
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
                except httpx.TransportError:
                    return 0

            await eventually(status, lambda s: s == 200, timeout=timeout)
