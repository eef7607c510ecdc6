"""docs/configuration.md is what tools/config_reference.py makes of the code; every variable it
names is really read (checked against pydantic-settings itself and the code's `os.environ`
look-ups, not against the generator); and no secret's default value appears in it."""

from __future__ import annotations

import ast
import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools import config_reference as reference

DOCUMENT = reference.DOCUMENT
BACKTICKED = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`")
SNAKE = re.compile(r"\b[A-Z][A-Z0-9]*(?:__?[A-Z0-9]+)+\b")
CELL = re.compile(r"(?<!\\)\|")
PROBES = ("13", "14")  # no default is either; an invalid value is refused, which also says read
REGENERATE = "run `python -m tools.config_reference`"


def document() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def named_variables(text: str) -> set[str]:
    """Code spans in capitals (outside the Default column) and NAMES_WITH_UNDERSCORES."""
    lines = [
        " | ".join(cell for column, cell in row.items() if column != "Default")
        if (row := row_of(line))
        else line
        for line in text.splitlines()
    ]
    return {name for line in lines for name in BACKTICKED.findall(line) + SNAKE.findall(line)}


def table_rows(text: str) -> Iterator[dict[str, str]]:
    """The variable rows of the document's tables, by column."""
    for line in text.splitlines():
        if row := row_of(line):
            yield row


def row_of(line: str) -> dict[str, str]:
    if not line.startswith("| `"):
        return {}
    cells = [cell.strip() for cell in CELL.split(line)[1:-1]]
    return dict(zip(reference.COLUMNS, cells, strict=True))


def settings_classes() -> list[type[BaseSettings]]:
    return [*reference.SERVICE_SETTINGS.values(), *(u.settings for u in reference.TOOL_SETTINGS)]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable the document or the code names is set (the caller's shell may set some)."""
    names = named_variables(document()) | {read.name for read in reference.all_reads()}
    names |= {alias for read in reference.all_reads() for alias in read.also}
    for key in list(os.environ):
        if key.upper() in names:
            monkeypatch.delenv(key)
    return monkeypatch


def reacts_to(settings: type[BaseSettings], name: str, env: pytest.MonkeyPatch) -> bool:
    """Whether pydantic-settings reads `name` for `settings`: setting it changes the result."""
    baseline = settings().model_dump()
    for probe in PROBES:
        with env.context() as patch:
            patch.setenv(name, probe)
            try:
                if settings().model_dump() != baseline:
                    return True
            except ValueError:  # ValidationError, SettingsError: the value was read
                return True
    return False


def test_the_document_is_generated_from_the_code() -> None:
    generated, on_disk = reference.reference(), document()
    assert on_disk == generated, f"{REGENERATE}:\n" + reference.stale_diff(
        on_disk, generated, DOCUMENT
    )


def test_every_variable_the_document_names_is_read(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    looked_up = {name for name, _ in reference.code_environment_reads()}
    names = named_variables(document())
    assert len(names) > 90
    unread = sorted(
        name
        for name in names
        if name not in looked_up
        and not any(reacts_to(cls, name, clean_environment) for cls in settings_classes())
    )
    assert not unread, f"named in {DOCUMENT.name} but read by no settings class: {unread}"


def test_every_place_the_document_names_reads_the_variable() -> None:
    looked_up = reference.code_environment_reads()
    builders = {use.module for use in reference.TOOL_SETTINGS}
    wrong = []
    for row in table_rows(document()):
        name = BACKTICKED.findall(row["Variable"])[0]
        for where in re.findall(r"`([^`]+)`", row["Read in"]):
            path, _, cls = where.partition("::")
            if cls:
                declared = getattr(importlib.import_module(module_of(path)), cls, None)
                if not (isinstance(declared, type) and issubclass(declared, BaseModel)):
                    wrong.append(f"{name}: {where}")
            elif (name, path) not in looked_up and path not in builders:
                wrong.append(f"{name}: {where}")
    assert not wrong, f"places that do not read the variable: {wrong}"


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def secret_defaults() -> Iterator[str]:
    for settings in settings_classes():
        for field in settings.model_fields.values():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr) and default.get_secret_value():
                yield default.get_secret_value()
    for read in reference.ENVIRONMENT_READS:
        if read.default and (read.secret or reference.SECRET_NAME.search(read.name)):
            yield read.default


def test_no_secret_default_appears_in_the_document() -> None:
    text = document()
    defaults = sorted(set(secret_defaults()))
    assert defaults, "DATABASE_URL has a default DSN: the check must see it"
    leaked = [d for d in defaults if d in text]
    assert not leaked, f"{len(leaked)} secret default(s) appear in {DOCUMENT.name}"
    secret_rows = [row for row in table_rows(text) if row["Secret"] == "yes"]
    assert {"`DATABASE_URL`", "`WECOM_CORP_SECRET`"} <= {row["Variable"] for row in secret_rows}
    shown = {row["Variable"]: row["Default"] for row in secret_rows}
    assert set(shown.values()) <= {reference.UNSET, reference.HIDDEN}, shown


def test_the_environment_reads_outside_settings_classes_are_listed() -> None:
    listed = {(read.name, read.module) for read in reference.ENVIRONMENT_READS}
    found = reference.code_environment_reads()
    assert found - listed == set(), "add them to tools/config_reference.ENVIRONMENT_READS"
    assert listed - found == set(), "no longer read there: remove them from ENVIRONMENT_READS"


def test_tools_and_services_agree_on_shared_defaults(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """A tool's fallback for a variable a service also reads is the service's default."""
    readers = {
        (read.name, reader)
        for read in reference.all_reads()
        if read.from_settings
        for reader in reference.SERVICES
        if read.reader == reader
    }
    compared = 0
    for read in reference.ENVIRONMENT_READS:
        for service, settings in reference.SERVICE_SETTINGS.items():
            if read.default is None or (read.name, service) not in readers:
                continue
            baseline = settings().model_dump()
            with clean_environment.context() as patch:
                patch.setenv(read.name, read.default)
                assert settings().model_dump() == baseline, (read.name, read.module, service)
            compared += 1
    assert compared >= 8


def test_every_settings_class_is_in_the_reference() -> None:
    covered = {
        cls
        for settings in settings_classes()
        for model in (settings, *nested_models(settings))
        for cls in model.__mro__
    }
    missing = [
        f"{path}::{name}"
        for path, name in settings_class_definitions()
        if getattr(importlib.import_module(module_of(path)), name) not in covered
    ]
    assert not missing, f"settings classes no service or tool reference reads: {missing}"


def nested_models(settings: type[BaseSettings]) -> Iterator[type]:
    for field in settings.model_fields.values():
        nested = reference.nested_model(field.annotation)
        if nested is not None:
            yield nested


def settings_class_definitions() -> Iterator[tuple[str, str]]:
    for folder in ("services", "shared", "tools"):
        for path in sorted((reference.ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    reference.dotted(base).endswith("Settings") for base in node.bases
                ):
                    yield path.relative_to(reference.ROOT).as_posix(), node.name


def test_tools_that_build_a_settings_class_are_listed() -> None:
    settings_names = {name for _, name in settings_class_definitions()}
    listed = {(use.settings.__name__, use.module) for use in reference.TOOL_SETTINGS}
    for path in sorted((reference.ROOT / "tools").rglob("*.py")):
        if path == Path(reference.__file__):
            continue  # reads the classes' fields, not the environment
        if path == reference.ROOT / "tools" / "asyncapi.py":
            continue  # builds the services' default settings with the environment set aside
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = path.relative_to(reference.ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in settings_names:
                        assert (alias.name, module) in listed, "add it to TOOL_SETTINGS"


def test_check_fails_with_a_diff_when_the_file_drifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "configuration.md"
    assert reference.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == reference.reference()
    assert reference.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("`LOG_LEVEL`", "`LOG_LEVELS`"))
    assert reference.main(["--check", "--out", str(out)]) == 1
    message = capsys.readouterr().err
    assert REGENERATE in message
    assert "-| `LOG_LEVELS`" in message and "+| `LOG_LEVEL`" in message


class _Described(BaseSettings):
    plain: int = Field(default=1, description="From the field.")
    commented: int = 2  # from a trailing comment
    # from the comment
    # right above
    above: int = 3
    documented: int = 4
    """From the attribute docstring."""


class _Undescribed(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="X_")

    bare: int = 1


def test_descriptions_come_from_the_field_a_docstring_or_a_comment() -> None:
    found = {read.name: read.description for read in reference.settings_reads(_Described, "tools")}
    assert found == {
        "PLAIN": "From the field.",
        "COMMENTED": "From a trailing comment.",
        "ABOVE": "From the comment right above.",
        "DOCUMENTED": "From the attribute docstring.",
    }


def test_a_setting_without_a_description_stops_the_generator() -> None:
    with pytest.raises(ValueError, match=r"_Undescribed\.bare has no description"):
        reference.settings_reads(_Undescribed, "tools")
