"""The dependency locks agree with pyproject.toml.

requirements-dev.lock (bootstrap, CI) and requirements.lock (the Dockerfile) are written by
`make lock` (uv pip compile) from pyproject.toml. Every direct dependency — runtime, the dev extra
and the build backend — is pinned there to a version its specifier allows; the lock asks for
nothing directly that pyproject.toml does not; every pin carries hashes; the runtime lock pins
exactly what the dev lock pins. After editing pyproject.toml's dependencies, `make lock`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
DEV_LOCK = ROOT / "requirements-dev.lock"
RUNTIME_LOCK = ROOT / "requirements.lock"
# What the locks are compiled for (Makefile LOCK_FLAGS).
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
# How uv names pyproject.toml as the source of a pin; a pin with no source but constraints came
# from the standard input of `make lock`, which is [build-system].requires.
FROM_PYPROJECT = re.compile(r"^wecom-quota \(pyproject\.toml\)$")
HINT = "pyproject.toml and the locks disagree: run `make lock`"


@dataclass
class Pin:
    name: str
    version: Version
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def parse_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().removesuffix("\\").strip()
        if not line:
            continue
        if raw[:1].isalnum():  # a requirement starts at column 0
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(TARGET):
                current = None
                continue
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: not an exact pin: {line}"
            current = Pin(canonicalize_name(req.name), Version(spec.version))
            pins[current.name] = current
        elif current is None:
            continue
        elif line.startswith("--hash=sha256:"):
            current.hashes += 1
        elif line.startswith("# via ") or line.startswith("#   "):
            current.via.append(line.removeprefix("# via ").removeprefix("#   ").strip())
    return pins


def wanted(with_dev: bool) -> list[Requirement]:
    meta = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    reqs = list(meta["project"]["dependencies"]) + list(meta["build-system"]["requires"])
    if with_dev:
        reqs += meta["project"]["optional-dependencies"]["dev"]
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(TARGET):
            out.append(req)
    return out


def direct(pins: dict[str, Pin]) -> set[str]:
    """The pins that pyproject.toml or the standard input asked for (constraints aside)."""
    out = set()
    for pin in pins.values():
        sources = [source for source in pin.via if not source.startswith("-c ")]
        if not sources or any(FROM_PYPROJECT.match(source) for source in sources):
            out.add(pin.name)
    return out


LOCKS = [pytest.param(DEV_LOCK, True, id="dev"), pytest.param(RUNTIME_LOCK, False, id="runtime")]


@pytest.mark.parametrize(("lock", "with_dev"), LOCKS)
def test_every_dependency_is_pinned_within_its_range(lock: Path, with_dev: bool) -> None:
    pins = parse_lock(lock)
    problems = []
    for req in wanted(with_dev):
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not in {lock.name}")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req}: {lock.name} pins {pin.version}")
    assert not problems, HINT + "\n" + "\n".join(problems)


@pytest.mark.parametrize(("lock", "with_dev"), LOCKS)
def test_the_lock_asks_for_nothing_pyproject_does_not(lock: Path, with_dev: bool) -> None:
    names = {canonicalize_name(req.name) for req in wanted(with_dev)}
    extra = sorted(direct(parse_lock(lock)) - names)
    assert not extra, f"{HINT}\n{lock.name} pins as direct dependencies: {', '.join(extra)}"


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK], ids=["dev", "runtime"])
def test_every_pin_has_hashes_and_the_lock_names_its_command(lock: Path) -> None:
    text = lock.read_text(encoding="utf-8")
    assert "#    make lock\n" in text.split("\n\n")[0], f"{lock.name} was not written by make lock"
    unhashed = [pin.name for pin in parse_lock(lock).values() if pin.hashes == 0]
    assert not unhashed, f"{lock.name}: pins without hashes: {unhashed}"


def test_the_runtime_lock_pins_what_the_dev_lock_pins() -> None:
    dev, runtime = parse_lock(DEV_LOCK), parse_lock(RUNTIME_LOCK)
    missing = sorted(set(runtime) - set(dev))
    differ = [
        f"{name}: {pin.version} vs {dev[name].version}"
        for name, pin in runtime.items()
        if name in dev and pin.version != dev[name].version
    ]
    assert not missing, f"{HINT}\nonly in requirements.lock: {missing}"
    assert not differ, f"{HINT}\nrequirements.lock and requirements-dev.lock differ: {differ}"


def test_a_disagreement_is_caught(tmp_path: Path) -> None:
    """The checks above see a pin outside its range and a stray direct pin."""
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# This file was autogenerated by uv via the following command:\n"
        "#    make lock\n"
        "pydantic==1.10.0 \\\n    --hash=sha256:00\n    # via wecom-quota (pyproject.toml)\n"
        "left-pad==1.0 \\\n    --hash=sha256:00\n    # via\n    #   wecom-quota (pyproject.toml)\n"
        "    #   pydantic\n"
        "annotated-types==0.8.0 \\\n    --hash=sha256:00\n    # via pydantic\n"
        "setuptools==84.2.1 \\\n    --hash=sha256:00\n    # via -c requirements-dev.lock\n",
        encoding="utf-8",
    )
    pins = parse_lock(lock)
    assert direct(pins) == {"pydantic", "left-pad", "setuptools"}
    assert pins["left-pad"].via == ["wecom-quota (pyproject.toml)", "pydantic"]
    req = next(r for r in wanted(False) if r.name == "pydantic")
    assert not req.specifier.contains(pins["pydantic"].version)
    assert Marker("sys_platform == 'win32'").evaluate(TARGET) is False
