"""`python -m tools.config_reference [--check]`: write docs/configuration.md, every environment
variable the services and tools read, or with --check exit 1 with a diff when the file on disk
differs from what the code makes.

The variables come from the settings classes, resolved the way pydantic-settings reads them
(env_prefix, aliases, nested models through env_nested_delimiter or their own prefix), and from
ENVIRONMENT_READS: the `os.environ` look-ups outside the settings classes, which a test keeps
in step with the code (tests/unit/test_config_reference.py)."""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import io
import json
import re
import sys
import textwrap
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import time
from enum import Enum
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.ingestor.settings import IngestorSettings
from services.notifier.settings import NotifierSettings
from services.scorer.settings import ScorerSettings
from shared.settings import Topics

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "configuration.md"

READERS = ("ingestor", "scorer", "notifier", "tools")
SERVICES = READERS[:3]
SHARED = "shared"
GROUPS = (SHARED, *READERS)
SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "ingestor": IngestorSettings,
    "scorer": ScorerSettings,
    "notifier": NotifierSettings,
}
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD")
UNSET = "unset"
HIDDEN = "set (hidden)"


@dataclass(frozen=True)
class ToolSettings:
    """A settings class a tool builds itself (it then reads that class's variables)."""

    settings: type[BaseSettings]
    module: str


@dataclass(frozen=True)
class EnvironmentRead:
    """A variable read with `os.environ` outside the settings classes. `default` is the code's,
    as the environment spells it (None: unset); `secret` marks a credential the name does not
    give away (a DSN)."""

    name: str
    module: str
    readers: tuple[str, ...]
    type: str
    default: str | None
    description: str
    secret: bool = False


TOOL_SETTINGS = (ToolSettings(Topics, "tools/live_summary/collect.py"),)

MEMTRACE = "shared/memtrace.py"
LIVE_SUMMARY = "tools/live_summary/__main__.py"
REPORT = "tools/report/__main__.py"
SIMULATOR = "tools/simulator/cli.py"
SIMULATOR_WECOM = "tools/simulator/wecom_path.py"
WECOM_STANDIN = "tools/wecom_standin.py"
TOOLS = ("tools",)

ENVIRONMENT_READS = (
    EnvironmentRead(
        "MEMORY_TRACE_FILE",
        MEMTRACE,
        SERVICES,
        "path",
        None,
        "With it set, the service runs under tracemalloc and appends to this file, one JSON "
        "object a line, the source lines whose live allocations grew most (finding memory "
        "growth; off by default, it costs CPU and memory).",
    ),
    EnvironmentRead(
        "MEMORY_TRACE_SECONDS",
        MEMTRACE,
        SERVICES,
        "float",
        "60",
        "Seconds between two reports to MEMORY_TRACE_FILE.",
    ),
    EnvironmentRead(
        "MEMORY_TRACE_WARMUP_SECONDS",
        MEMTRACE,
        SERVICES,
        "float",
        "60",
        "Seconds after start before the baseline the reports compare with is taken.",
    ),
    EnvironmentRead(
        "MEMORY_TRACE_FRAMES",
        MEMTRACE,
        SERVICES,
        "int",
        "4",
        "Stack frames tracemalloc keeps of each allocation.",
    ),
    EnvironmentRead(
        "CLOCK_OFFSET_SECONDS",
        "shared/clock.py",
        TOOLS,
        "float",
        "0",
        "The command-line tools (`tools.report`, `tools.live_summary`, `tools.evaluate`) "
        "shift their clock by it too.",
    ),
    EnvironmentRead(
        "KAFKA_BOOTSTRAP_SERVERS",
        "shared/dead_letters.py",
        TOOLS,
        "str",
        "localhost:9092",
        "`python -m shared.dead_letters` lists and replays dead letters there.",
    ),
    EnvironmentRead(
        "DATABASE_MIGRATION_URL",
        "shared/db/migrate.py",
        TOOLS,
        "str",
        None,
        "`python -m shared.db` applies the migrations with it (else with DATABASE_URL).",
        secret=True,
    ),
    EnvironmentRead(
        "DATABASE_URL",
        "shared/db/migrate.py",
        TOOLS,
        "str",
        None,
        "`python -m shared.db` applies the migrations with it when DATABASE_MIGRATION_URL is "
        "unset.",
        secret=True,
    ),
    EnvironmentRead(
        "DATABASE_READER_URL",
        REPORT,
        TOOLS,
        "str",
        None,
        "PostgreSQL DSN of the read-only role: `tools.report` reads the SQL views through it "
        "(else through DATABASE_URL; `--database-url` overrides).",
        secret=True,
    ),
    EnvironmentRead(
        "DATABASE_URL",
        REPORT,
        TOOLS,
        "str",
        None,
        "`tools.report` reads the SQL views through it when DATABASE_READER_URL is unset.",
        secret=True,
    ),
    EnvironmentRead(
        "BUSINESS_TIMEZONE",
        REPORT,
        TOOLS,
        "str",
        "Asia/Shanghai",
        "`tools.report` reads the clock in it.",
    ),
    EnvironmentRead(
        "SIMULATOR_TOKEN",
        SIMULATOR,
        TOOLS,
        "str",
        None,
        "Bearer token the simulator posts to `/v1/events` with (`--token` overrides; unset: "
        "the first of INGEST_API_TOKENS).",
    ),
    EnvironmentRead(
        "INGEST_API_TOKENS",
        SIMULATOR,
        TOOLS,
        "str",
        None,
        "The simulator posts with the first of them when SIMULATOR_TOKEN is unset.",
    ),
    EnvironmentRead(
        "WECOM_CORP_ID",
        SIMULATOR_WECOM,
        TOOLS,
        "str",
        None,
        "`--callbacks`: the corp the simulator's callbacks are for (the ingestor's).",
    ),
    EnvironmentRead(
        "WECOM_CALLBACK_TOKEN",
        SIMULATOR_WECOM,
        TOOLS,
        "str",
        None,
        "`--callbacks`: the token the simulator signs callbacks with (the ingestor's).",
    ),
    EnvironmentRead(
        "WECOM_CALLBACK_AES_KEY",
        SIMULATOR_WECOM,
        TOOLS,
        "str",
        None,
        "`--callbacks`: the key the simulator encrypts callbacks with (the ingestor's).",
    ),
    EnvironmentRead(
        "WECOM_CORP_ID",
        WECOM_STANDIN,
        TOOLS,
        "str",
        None,
        "The corp the local WeCom stand-in answers `gettoken` for (required).",
    ),
    EnvironmentRead(
        "WECOM_CORP_SECRET",
        WECOM_STANDIN,
        TOOLS,
        "str",
        None,
        "The secret the local WeCom stand-in answers `gettoken` for (required).",
    ),
    EnvironmentRead(
        "BUSINESS_TIMEZONE",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        "Asia/Shanghai",
        "`tools.live_summary` takes the current month in it.",
    ),
    EnvironmentRead(
        "WQ_API_TOKEN",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        None,
        "The API token the live summary reads scores and alerts with (risk role); `make up` "
        "issues one to `.run/secrets/watch_api_token` and `make watch` passes it.",
    ),
    EnvironmentRead(
        "SIMULATE_MONTH",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        None,
        "The month (`YYYY-MM`) the live summary shows: the simulated one; unset: the current "
        "month (`--period` overrides).",
    ),
    EnvironmentRead(
        "INGESTOR_PORT",
        LIVE_SUMMARY,
        TOOLS,
        "int",
        "8080",
        "The live summary reads the ingestor at 127.0.0.1 on this port.",
    ),
    EnvironmentRead(
        "SCORER_PORT",
        LIVE_SUMMARY,
        TOOLS,
        "int",
        "8081",
        "The live summary reads the scorer at 127.0.0.1 on this port.",
    ),
    EnvironmentRead(
        "NOTIFIER_PORT",
        LIVE_SUMMARY,
        TOOLS,
        "int",
        "8082",
        "The live summary reads the notifier at 127.0.0.1 on this port.",
    ),
    EnvironmentRead(
        "KAFKA_BOOTSTRAP_SERVERS",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        "localhost:9092",
        "The live summary reads the topics' end offsets there (consumer lag).",
    ),
    EnvironmentRead(
        "DATABASE_READER_URL",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        None,
        "The live summary reads the stored consumer offsets through it; unset: no consumer lag.",
        secret=True,
    ),
    EnvironmentRead(
        "SCORER_GROUP_ID",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        "scorer",
        "The live summary shows this consumer group's lag.",
    ),
    EnvironmentRead(
        "NOTIFIER_GROUP_ID",
        LIVE_SUMMARY,
        TOOLS,
        "str",
        "notifier",
        "The live summary shows this consumer group's lag.",
    ),
    EnvironmentRead(
        "WATCH_SECONDS",
        LIVE_SUMMARY,
        TOOLS,
        "float",
        "0",
        "The live summary stops watching after this long; 0: at Ctrl-C (`--seconds` "
        "overrides; after `make up` it watches for 90 s unless this is set).",
    ),
    EnvironmentRead(
        "WATCH_INTERVAL",
        LIVE_SUMMARY,
        TOOLS,
        "float",
        "3",
        "Seconds between the live summary's refreshes (`--interval` overrides).",
    ),
)


@dataclass(frozen=True)
class Read:
    """One place that reads a variable: a settings field (`from_settings`) or an `os.environ`
    look-up. `also` holds other spellings of it; `whole` the parent name that takes its whole
    nested model as JSON."""

    name: str
    reader: str
    where: str
    type: str
    default: str
    secret: bool
    description: str
    from_settings: bool
    also: tuple[str, ...] = ()
    whole: str | None = None


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    default: str
    secret: bool
    readers: tuple[str, ...]
    where: tuple[str, ...]
    description: str
    also: tuple[str, ...]

    @property
    def group(self) -> str:
        return self.readers[0] if len(self.readers) == 1 else SHARED


# --- settings classes, as pydantic-settings reads them ---------------------------------------


def settings_reads(
    settings: type[BaseSettings], reader: str, module: str | None = None
) -> list[Read]:
    """The variables `settings` reads; `module`: a tool that builds the class itself."""
    return [
        read
        for name, field in settings.model_fields.items()
        for read in field_reads(settings, name, field, reader, module)
    ]


def field_reads(
    settings: type[BaseSettings], name: str, field: FieldInfo, reader: str, module: str | None
) -> list[Read]:
    env = env_name(settings, name, field)
    nested = nested_model(field.annotation)
    if nested is None:
        return [leaf_read(settings, name, field, env, reader, module)]
    if issubclass(nested, BaseSettings):
        # Built by its default factory, it reads its own variables (its own env_prefix); the
        # parent's nested delimiter reaches the same fields.
        return [
            replace(read, also=nested_names(settings, env, sub), whole=env)
            for sub, subfield in nested.model_fields.items()
            for read in field_reads(nested, sub, subfield, reader, module)
        ]
    if not settings.model_config.get("env_nested_delimiter"):
        return [leaf_read(settings, name, field, env, reader, module)]
    return [
        replace(
            leaf_read(nested, sub, subfield, nested_names(settings, env, sub)[0], reader, module),
            whole=env,
        )
        for sub, subfield in nested.model_fields.items()
    ]


def env_name(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The variable's name: an alias as given, else env_prefix + field name."""
    alias = field.validation_alias or field.alias
    if alias is not None and not isinstance(alias, str):
        raise NotImplementedError(f"{settings.__name__}.{name}: AliasChoices/AliasPath")
    return spelled(settings, alias if alias is not None else env_prefix(settings) + name)


def env_prefix(settings: type[BaseSettings]) -> str:
    return settings.model_config.get("env_prefix", "")


def nested_names(settings: type[BaseSettings], parent: str, field: str) -> tuple[str, ...]:
    """A nested field's name through the parent's env_nested_delimiter (none without one)."""
    delimiter = settings.model_config.get("env_nested_delimiter")
    return (f"{parent}{delimiter}{spelled(settings, field)}",) if delimiter else ()


def spelled(settings: type[BaseSettings], name: str) -> str:
    """Upper case, as variables are spelled, unless the class matches names case-sensitively."""
    return name if settings.model_config.get("case_sensitive", False) else name.upper()


def nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def leaf_read(
    owner: type[BaseModel],
    name: str,
    field: FieldInfo,
    env: str,
    reader: str,
    module: str | None,
) -> Read:
    secret = is_secret(env, field.annotation)
    declared_in = declaring_class(owner, name)
    return Read(
        name=env,
        reader=reader,
        where=module or f"{source_path(declared_in)}::{declared_in.__name__}",
        type=type_text(field),
        default=default_text(field, secret),
        secret=secret,
        description=field_description(declared_in, name, field),
        from_settings=True,
    )


def is_secret(env: str, annotation: Any) -> bool:
    return SecretStr in (annotation, *get_args(annotation)) or bool(SECRET_NAME.search(env))


def declaring_class(model: type[BaseModel], name: str) -> type[BaseModel]:
    for cls in model.__mro__:
        if name in vars(cls).get("__annotations__", {}):
            return cls
    raise LookupError(f"{model.__name__}.{name} is declared nowhere")


def source_path(cls: type) -> str:
    return Path(inspect.getfile(cls)).resolve().relative_to(ROOT).as_posix()


# --- descriptions: Field(description=...), else the docstring or comment next to the field ----


def field_description(cls: type[BaseModel], name: str, field: FieldInfo) -> str:
    found = field.description or source_notes(cls).get(name)
    if not found:
        raise ValueError(
            f"{source_path(cls)}: {cls.__name__}.{name} has no description; "
            "add Field(description=...)"
        )
    return sentence(found)


def sentence(text: str) -> str:
    """One line, starting with a capital and ending with a full stop (comments may not)."""
    text = " ".join(text.split())
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."


@cache
def source_notes(cls: type) -> dict[str, str]:
    """Field name → its attribute docstring, trailing comment or the comment block right above
    it, in that order."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    trailing = trailing_comments(source)
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    notes: dict[str, str] = {}
    for index, statement in enumerate(body.body):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        rows = range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
        note = (
            attribute_docstring(body.body[index + 1 :])
            or " ".join(trailing[row] for row in rows if row in trailing)
            or comment_above(lines, statement.lineno)
        )
        if note:
            notes[statement.target.id] = note
    return notes


def trailing_comments(source: str) -> dict[int, str]:
    return {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and token.line[: token.start[1]].strip()
    }


def attribute_docstring(following: Sequence[ast.stmt]) -> str:
    if following and isinstance(following[0], ast.Expr):
        value = following[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return ""


def comment_above(lines: Sequence[str], lineno: int) -> str:
    block: list[str] = []
    row = lineno - 2
    while row >= 0 and lines[row].strip().startswith("#"):
        block.insert(0, lines[row].strip().lstrip("#").strip())
        row -= 1
    return " ".join(block)


# --- types and defaults, as the environment spells them --------------------------------------


def type_text(field: FieldInfo) -> str:
    limits = [limit for item in field.metadata if (limit := limit_text(item))]
    return ", ".join([type_name(field.annotation), *limits])


def type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return " or ".join(type_name(arg) for arg in args if arg is not NoneType)
    if origin is list:
        choices = choices_of(args[0])
        return f"JSON list of: {choices}" if choices else f"JSON list of {type_name(args[0])}"
    if choices := choices_of(annotation):
        return f"one of: {choices}"
    names = {SecretStr: "str", Path: "path", time: "time (HH:MM)"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def choices_of(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return ", ".join(str(arg) for arg in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ", ".join(str(member.value) for member in annotation)
    return ""


def limit_text(item: object) -> str:
    bounds = (
        (annotated_types.Ge, "ge", "≥"),
        (annotated_types.Gt, "gt", ">"),
        (annotated_types.Le, "le", "≤"),
        (annotated_types.Lt, "lt", "<"),
        (annotated_types.MinLen, "min_length", "length ≥"),
        (annotated_types.MaxLen, "max_length", "length ≤"),
    )
    for kind, attribute, sign in bounds:
        if isinstance(item, kind):
            return f"{sign} {getattr(item, attribute)}"
    return ""


def default_text(field: FieldInfo, secret: bool) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return UNSET
    return HIDDEN if secret else f"`{value_text(value)}`"


def value_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, list | tuple):
        return json.dumps([json.loads(json_text(item)) for item in value], ensure_ascii=False)
    if value == "":
        return '""'
    return str(value)


def json_text(item: object) -> str:
    return json.dumps(item.value if isinstance(item, Enum) else item, ensure_ascii=False)


# --- environment reads outside the settings classes --------------------------------------------


def environment_reads() -> list[Read]:
    return [
        Read(
            name=read.name,
            reader=reader,
            where=read.module,
            type=read.type,
            default=environment_default(read),
            secret=read.secret or bool(SECRET_NAME.search(read.name)),
            description=read.description,
            from_settings=False,
        )
        for read in ENVIRONMENT_READS
        for reader in read.readers
    ]


def environment_default(read: EnvironmentRead) -> str:
    if read.default is None:
        return UNSET
    secret = read.secret or SECRET_NAME.search(read.name)
    return HIDDEN if secret else f"`{value_text(read.default)}`"


def code_environment_reads(
    top: Path = ROOT, folders: Sequence[str] = ("services", "shared", "tools")
) -> set[tuple[str, str]]:
    """(variable, module) of every `os.environ` / `os.getenv` look-up by a literal name."""
    return {
        (name, path.relative_to(top).as_posix())
        for folder in folders
        for path in sorted((top / folder).rglob("*.py"))
        for name in names_looked_up(ast.parse(path.read_text(encoding="utf-8")))
    }


def names_looked_up(tree: ast.AST) -> Iterator[str]:
    aliases = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and is_environ_get(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            looks_up = is_environ_get(node.func) or (
                isinstance(node.func, ast.Name) and node.func.id in aliases
            )
            yield from literal(node.args[0]) if looks_up else ()
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and dotted(node.value).endswith("environ")
        ):
            yield from literal(node.slice)


def is_environ_get(node: ast.AST) -> bool:
    name = dotted(node)
    return name.endswith("environ.get") or name in {"os.getenv", "getenv"}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def literal(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value


# --- the reference -----------------------------------------------------------------------------


def all_reads() -> list[Read]:
    reads = [
        read for reader, cls in SERVICE_SETTINGS.items() for read in settings_reads(cls, reader)
    ]
    for use in TOOL_SETTINGS:
        reads += settings_reads(use.settings, "tools", use.module)
    return reads + environment_reads()


def variables() -> list[Variable]:
    by_name: dict[str, list[Read]] = {}
    for read in all_reads():
        by_name.setdefault(read.name, []).append(read)
    return sorted(
        (variable_of(name, reads) for name, reads in by_name.items()),
        key=lambda v: (GROUPS.index(v.group), v.name),
    )


def variable_of(name: str, reads: Sequence[Read]) -> Variable:
    settled = [read for read in reads if read.from_settings] or list(reads)
    return Variable(
        name=name,
        type=per_reader((read.reader, read.type) for read in settled),
        default=per_reader((read.reader, read.default) for read in settled),
        secret=any(read.secret for read in reads),
        readers=tuple(r for r in READERS if any(read.reader == r for read in reads)),
        where=tuple(sorted({read.where for read in reads})),
        description=description_of(reads),
        also=tuple(sorted({name for read in reads for name in read.also})),
    )


def per_reader(pairs: Iterable[tuple[str, str]]) -> str:
    """One value, or each distinct value after the readers that give it."""
    readers_of: dict[str, list[str]] = {}
    for reader, value in pairs:
        if reader not in readers_of.setdefault(value, []):
            readers_of[value].append(reader)
    if len(readers_of) == 1:
        return next(iter(readers_of))
    return " ".join(f"**{', '.join(readers)}:** {value}" for value, readers in readers_of.items())


def description_of(reads: Sequence[Read]) -> str:
    """The settings' description (per reader when they differ), then what the other reads add."""
    settings = [(read.reader, read.description) for read in reads if read.from_settings]
    others = dict.fromkeys(read.description for read in reads if not read.from_settings)
    described = [per_reader(settings)] if settings else []
    return " ".join([*described, *others])


# --- the document ------------------------------------------------------------------------------

TITLE = "# Configuration reference"
HEADINGS = {
    SHARED: "## Shared\n\nRead by more than one service or tool.",
    "ingestor": "## Ingestor\n\n`services/ingestor`, and `python -m services.ingestor.reconcile`.",
    "scorer": "## Scorer\n\n`services/scorer`.",
    "notifier": "## Notifier\n\n`services/notifier`.",
    "tools": "## Tools\n\nThe command-line tools (`tools/`, `python -m shared.db`, "
    "`python -m shared.dead_letters`).",
}
COLUMNS = ("Variable", "Type", "Default", "Secret", "Read by", "Read in", "Description")


def reference() -> str:
    """The text of docs/configuration.md."""
    found = variables()
    sections = [TITLE, introduction(found)]
    for group in GROUPS:
        members = [v for v in found if v.group == group]
        if members:
            sections += [HEADINGS[group], table(members)]
    return "\n\n".join(sections) + "\n"


def introduction(found: Sequence[Variable]) -> str:
    wholes = sorted({read.whole for read in all_reads() if read.whole})
    return wrapped(
        f"Every environment variable the three services and the command-line tools read "
        f"({len(found)}). This file is generated by `tools/config_reference.py` from the "
        "settings classes (`shared/settings.py`, `services/*/settings.py`) and from the "
        "tools' own `os.environ` look-ups it lists: change those, never this file, then run "
        "`python -m tools.config_reference` to regenerate it; `python -m "
        "tools.config_reference --check` and `tests/unit/test_config_reference.py` fail "
        "while it is out of date. Names are matched regardless of case; lists are JSON "
        '(`["month", "quarter"]`); a nested model is read field by field through `__`, or '
        f"whole, as JSON, under its own name ({', '.join(f'`{w}`' for w in wholes)}). "
        "Defaults are the code's (`make up` sets some for the local stack, "
        "`deploy/local/env.sh`, and generates local secrets); a secret shows only whether it "
        "has a default. A variable read by more than one service or tool is listed once, "
        "under Shared."
    )


def wrapped(text: str, width: int = 100) -> str:
    """Filled to `width`, never breaking inside a `code span`."""
    keep = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    filled = textwrap.fill(keep, width=width, break_on_hyphens=False, break_long_words=False)
    return filled.replace("\0", " ")


def table(members: Sequence[Variable]) -> str:
    rows = [COLUMNS, tuple("---" for _ in COLUMNS), *(row(v) for v in members)]
    return "\n".join("| " + " | ".join(cell(text) for text in r) + " |" for r in rows)


def row(variable: Variable) -> tuple[str, ...]:
    names = f"`{variable.name}`" + "".join(f" (or `{a}`)" for a in variable.also)
    return (
        names,
        variable.type,
        variable.default,
        "yes" if variable.secret else "no",
        ", ".join(variable.readers),
        ", ".join(f"`{where}`" for where in variable.where),
        variable.description,
    )


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- the command -------------------------------------------------------------------------------


def stale_diff(on_disk: str, generated: str, path: Path) -> str:
    """A unified diff from the file on disk to what the code makes (empty: up to date)."""
    return "".join(
        difflib.unified_diff(
            on_disk.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{path} (on disk)",
            f"{path} (generated)",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.config_reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    generated = reference()
    if not args.check:
        args.out.write_text(generated, encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    on_disk = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    diff = stale_diff(on_disk, generated, args.out)
    if diff:
        print(
            f"{args.out} is out of date with the settings classes; run "
            f"`python -m tools.config_reference` (diff from the file to the code):\n{diff}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
