"""`wecom-quota erase`'s refusals are clear and touch nothing: a mistyped id, no or a
placeholder ERASURE_HMAC_KEY (never echoed), both `--…-only` at once, an ingestor running on the
spool; `--ingestor-only` on a host without ingestor state says so. (The erasure itself, on real
PostgreSQL and Kafka: tests/integration/test_contact_erasure.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import Spool
from shared.cli import main

KEY = "an-erasure-key-of-the-tests-" + "x" * 10


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An ingestor's folders of this test (none exists yet), the key set."""
    monkeypatch.setenv("ERASURE_HMAC_KEY", KEY)
    for name, folder in (
        ("SPOOL_DIR", "spool"),
        ("RECONCILE_STATE_DIR", "reconcile"),
        ("LOOKUP_STATE_DIR", "lookups"),
    ):
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.delenv("RECONCILE_DAILY_AT", raising=False)
    return tmp_path


@pytest.mark.parametrize("typed", ["", "wm A", "wm'; DROP TABLE contact;--", "wmA\n", "w" * 129])
def test_a_mistyped_id_is_refused_by_name(typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["erase", "--external-userid", typed])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --external-userid: not an external_userid" in err
    assert "letters, digits, '_' or '-'" in err


def test_the_id_is_required_and_one_place_at_most(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["erase"])
    assert "the following arguments are required: --external-userid" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["erase", "--external-userid", "wmA", "--database-only", "--ingestor-only"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_without_the_key_nothing_is_erased(
    monkeypatch: pytest.MonkeyPatch, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ERASURE_HMAC_KEY")
    assert main(["erase", "--external-userid", "wmA"]) == 2
    err = capsys.readouterr().err
    assert "ERASURE_HMAC_KEY is not set" in err and "keyed hash, never its id" in err
    assert not (environment / "spool").exists()  # nothing touched, nothing created


@pytest.mark.parametrize("placeholder", ["changeme", "password", "short-key-0123456789"])
def test_a_placeholder_key_is_refused_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], placeholder: str
) -> None:
    monkeypatch.setenv("ERASURE_HMAC_KEY", placeholder)
    assert main(["erase", "--external-userid", "wmA"]) == 2
    err = capsys.readouterr().err
    assert "ERASURE_HMAC_KEY is missing or a placeholder" in err
    assert placeholder not in err and "input_value" not in err


def test_an_ingestor_running_on_the_spool_is_refused(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = Spool(environment / "spool")
    running.append([Outgoing("t", "k", b'{"external_userid":"wmA"}')])
    try:
        assert main(["erase", "--external-userid", "wmA", "--ingestor-only"]) == 2
    finally:
        running.close()
    err = capsys.readouterr().err
    assert "an ingestor is running on SPOOL_DIR=" in err and "stop it, erase" in err
    assert "nothing was erased" in err


def test_a_host_without_ingestor_state_says_so(
    monkeypatch: pytest.MonkeyPatch, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ERASURE_HMAC_KEY")  # the ingestor's files need no hash
    assert main(["erase", "--external-userid", "wmA", "--ingestor-only"]) == 0
    out = capsys.readouterr().out
    assert "0 spooled record(s)" in out and f"not here: {environment / 'spool'}" in out
