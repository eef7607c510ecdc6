"""Every name README.md gives a reader exists: `make` targets (in the Makefile) and the
variables given to them (read by the target's recipe or the scripts it runs), `python -m`
modules (importable), console scripts (pyproject.toml's [project.scripts]), files and scripts
(present), and environment variables (read by a settings class, named in docs/configuration.md,
which tools/config_reference.py generates from the settings, or read by the local stack's
scripts under deploy/ that `make up` runs)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path

from tools import config_reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([A-Za-z][\w-]*)((?:\s+\[?[A-Z][A-Z0-9_]*=[^\s\]]*\]?)*)")
ASSIGNMENT = re.compile(r"([A-Z][A-Z0-9_]*)=")
PYTHON_M = re.compile(r"python3?\s+-m\s+([\w.]+)")
CONSOLE_SCRIPT = re.compile(r"(?<![\w/.-])(wecom-[a-z-]+)")
ENV_SPAN = re.compile(r"^(_?[A-Z][A-Z0-9_]*\*?)(?:=\S*)?$")
SCRIPT = re.compile(r"(?<![\w./-])((?:deploy|tools)/[\w./-]*\w)")
FILE_SUFFIXES = (
    ".py", ".sh", ".md", ".txt", ".lock", ".toml", ".yml", ".yaml", ".json", ".png", ".sql",
    ".html",
)  # fmt: skip
RUNTIME_DIRS = (".run/", "reports/", "bench/results/", "eval/results/")


def prose_and_blocks(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text outside fenced blocks, and each block's (language, body)."""
    blocks = [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]
    return FENCE.sub("", text), blocks


def spans(text: str) -> list[str]:
    """The inline code spans outside fenced blocks."""
    return SPAN.findall(prose_and_blocks(text)[0])


def shell_lines(text: str) -> list[str]:
    """The commands of the shell blocks, without their comments."""
    lines = []
    for language, body in prose_and_blocks(text)[1]:
        if language in ("bash", "sh", "shell", "console"):
            lines += [re.sub(r"(^|\s)#.*$", "", line) for line in body.splitlines()]
    return lines


def commands(text: str) -> list[str]:
    return spans(text) + shell_lines(text)


# --- what exists ------------------------------------------------------------------------------


@cache
def makefile() -> str:
    return (ROOT / "Makefile").read_text(encoding="utf-8")


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile(), re.MULTILINE))


def recipe(target: str) -> str:
    """The target's recipe, with the scripts under deploy/ it runs and those they source."""
    found = re.search(rf"^{re.escape(target)}\s*:[^\n]*\n((?:\t[^\n]*\n?)*)", makefile(), re.M)
    text = found.group(1) if found else ""
    seen: set[Path] = set()
    pending = [ROOT / p for p in SCRIPT.findall(text)]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        body = path.read_text(encoding="utf-8")
        text += body
        pending += [path.parent / name for name in re.findall(r"\b([\w-]+\.sh)\b", body)]
    return text


def reads_variable(text: str, name: str) -> bool:
    return re.search(rf"\$\(?\{{?{re.escape(name)}(?![A-Z0-9_])", text) is not None


@cache
def stack_scripts() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("deploy/**/*.sh")))


@cache
def documented_variables() -> frozenset[str]:
    names = {variable.name for variable in config_reference.variables()}
    document = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names |= {n for n in SPAN.findall(document) if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)}
    return frozenset(names)


def known_variable(name: str) -> bool:
    if name.endswith("*"):
        return any(n.startswith(name[:-1]) for n in documented_variables())
    return name in documented_variables() or reads_variable(stack_scripts(), name)


@cache
def console_scripts() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, str] = pyproject["project"].get("scripts", {})
    return found


@cache
def repository_files() -> frozenset[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(listed)


def path_exists(path: str) -> bool:
    """A repository path (braces expanded: `services/{a,b}/`), or a bare file name that some
    file of the repository has."""
    braces = re.search(r"\{([^}]*)\}", path)
    if braces:
        return all(
            path_exists(path[: braces.start()] + part + path[braces.end() :])
            for part in braces.group(1).split(",")
        )
    if "/" not in path.rstrip("/"):
        name = path.rstrip("/")
        return (ROOT / name).exists() or any(Path(f).name == name for f in repository_files())
    return (ROOT / path).exists()


# --- the checks, each the list of what does not exist -----------------------------------------


def missing_make_targets(text: str) -> list[str]:
    targets = make_targets()
    return sorted({t for c in commands(text) for t, _ in MAKE.findall(c) if t not in targets})


def unread_make_variables(text: str) -> list[str]:
    unread = set()
    for command in commands(text):
        for target, assignments in MAKE.findall(command):
            for name in ASSIGNMENT.findall(assignments):
                if not reads_variable(recipe(target), name):
                    unread.add(f"make {target} {name}=")
    return sorted(unread)


def missing_modules(text: str) -> list[str]:
    missing = set()
    for module in {m for c in commands(text) for m in PYTHON_M.findall(c)}:
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            missing.add(module)
    return sorted(missing)


def missing_console_scripts(text: str) -> list[str]:
    named = {s for c in commands(text) for s in CONSOLE_SCRIPT.findall(c)}
    return sorted(named - set(console_scripts()))


def looks_like_path(span: str) -> bool:
    """A file name, or a path under one of the repository's top-level folders (not a
    time zone's `Asia/Shanghai`, nor what a running stack writes)."""
    if " " in span or span.startswith(RUNTIME_DIRS):
        return False
    tops = {f.split("/")[0] for f in repository_files() if "/" in f}
    return span.split("/")[0] in tops or ("/" not in span and span.endswith(FILE_SUFFIXES))


def missing_files(text: str) -> list[str]:
    missing = {span for span in spans(text) if looks_like_path(span) and not path_exists(span)}
    for command in commands(text):
        missing |= {p for p in SCRIPT.findall(command) if not path_exists(p)}
    return sorted(missing)


def unknown_variables(text: str) -> list[str]:
    unknown = set()
    for span in spans(text):
        found = ENV_SPAN.match(span)
        if found is None or len(found.group(1)) < 3:
            continue
        name = found.group(1)
        if name.startswith("_"):
            unknown.add(f"{name} (spell the variable's whole name)")
        elif not known_variable(name):
            unknown.add(name)
    return sorted(unknown)


CHECKS = (
    missing_make_targets,
    unread_make_variables,
    missing_modules,
    missing_console_scripts,
    missing_files,
    unknown_variables,
)


def test_every_make_target_the_readme_names_exists() -> None:
    assert missing_make_targets(README.read_text(encoding="utf-8")) == []


def test_every_variable_given_to_a_make_target_is_read_by_it() -> None:
    assert unread_make_variables(README.read_text(encoding="utf-8")) == []


def test_every_command_the_readme_names_exists() -> None:
    text = README.read_text(encoding="utf-8")
    assert missing_modules(text) == []
    assert missing_console_scripts(text) == []


def test_every_console_script_points_at_a_function() -> None:
    for name, target in console_scripts().items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function, None)), name


def test_every_file_and_script_the_readme_names_exists() -> None:
    assert missing_files(README.read_text(encoding="utf-8")) == []


def test_every_environment_variable_the_readme_names_is_read() -> None:
    assert unknown_variables(README.read_text(encoding="utf-8")) == []


def test_the_checks_see_what_does_not_exist() -> None:
    drifted = "\n".join(
        [
            "Run `make nosuch`, `make report NOSUCH=1`, `python -m tools.nosuch`, `wecom-nosuch`,",
            "`deploy/local/nosuch.sh`, `docs/nosuch.md`, `NO_SUCH_VARIABLE` and `_SEED`.",
            "```bash",
            "make alsonosuch   # a comment naming `make up`",
            "bash deploy/local/gone.sh",
            "python -m services.nosuch",
            "```",
        ]
    )
    assert missing_make_targets(drifted) == ["alsonosuch", "nosuch"]
    assert unread_make_variables(drifted) == ["make report NOSUCH="]
    assert missing_modules(drifted) == ["services.nosuch", "tools.nosuch"]
    assert missing_console_scripts(drifted) == ["wecom-nosuch"]
    assert missing_files(drifted) == [
        "deploy/local/gone.sh",
        "deploy/local/nosuch.sh",
        "docs/nosuch.md",
    ]
    assert unknown_variables(drifted) == [
        "NO_SUCH_VARIABLE",
        "_SEED (spell the variable's whole name)",
    ]
    fine = (
        "`make report PERIOD=2026-11 BRANCH=br01`, `python -m tools.asyncapi`, `wecom-scorer`, "
        "`KAFKA_BOOTSTRAP_SERVERS`, `PROMETHEUS_PORT`, `QUALITY_WEIGHTS`, `TOPIC_*`, "
        "`services/{ingestor,scorer}/`, `app.py`, `Asia/Shanghai`, `.run/logs/`"
    )
    assert [check(fine) for check in CHECKS] == [[]] * len(CHECKS)
