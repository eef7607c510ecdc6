"""The demo's months: one bank over several months (`--backfill`) shares its org but never a
contact or message id; the WeCom stand-in keeps, after a month, only the relations its last
event left alive; contacts survive the stand-in's file; `make inbox` prints what arrived."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tools import inbox
from tools.simulator import SimulationConfig, generate
from tools.simulator.callbacks import ENDED, api_contacts, settled
from tools.simulator.cli import main
from tools.wecom.api_standin import Contact, Follow

MONTHS = ("2026-10", "2026-12")


def test_months_of_one_bank_share_the_org_and_no_ids() -> None:
    october, december = (
        generate(SimulationConfig(seed=2, month=m, employees=30, id_salt=m)) for m in MONTHS
    )
    org = [[r for r in s.records if r["type"] == "employee"] for s in (october, december)]
    assert [e["employee_id"] for e in org[0]] == [e["employee_id"] for e in org[1]]
    assert [e.get("robot_webhook") for e in org[0]] == [e.get("robot_webhook") for e in org[1]]

    def ids(records: tuple[dict[str, object], ...]) -> set[str]:
        return {str(r.get("ExternalUserID") or r.get("msgid") or "") for r in records} - {""}

    assert ids(october.records) and not ids(october.records) & ids(december.records)


def test_without_a_salt_a_scenario_is_unchanged() -> None:
    plain = generate(SimulationConfig(seed=2, month="2026-10", employees=30))
    again = generate(SimulationConfig(seed=2, month="2026-10", employees=30, id_salt=""))
    assert plain.records == again.records


def test_settled_keeps_the_relations_still_alive() -> None:
    scenario = generate(SimulationConfig(seed=2, month="2026-10", employees=30))
    contacts = api_contacts(scenario.records)
    settled(contacts, scenario.records)
    last: dict[tuple[str, str], str] = {}
    for r in scenario.records:
        if r["type"] == "contact_event":
            last[(r["ExternalUserID"], r["UserID"])] = r["ChangeType"]
    ended = {pair for pair, change in last.items() if change in ENDED}
    kept = {(ext, f.userid) for ext, c in contacts.items() for f in c.follows}
    assert ended and not kept & ended


def test_a_contact_survives_its_json() -> None:
    contact = Contact("wmA", type=2, corp_name="某某农商银行", follows=[Follow("e1", 1700000000)])
    assert Contact.from_doc(orjson.loads(orjson.dumps(contact.doc()))) == contact


def test_callbacks_need_the_standin_and_the_callback_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["--employees", "30", "--callbacks"]) == 2
    monkeypatch.delenv("WECOM_CALLBACK_TOKEN", raising=False)
    assert main(["--employees", "30", "--callbacks", "--wecom-standin", "http://x.test"]) == 2


def test_inbox_prints_what_arrived(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "inbox.jsonl"
    lines = [
        {"at": 1764900000, "channel": "robot", "to": ["k1"], "subject": "", "text": "未达标"},
        {"at": 1764900001, "channel": "email", "to": ["a@b.example"], "subject": "S", "text": "x"},
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    assert inbox.main([str(path), "--channel", "email"]) == 0
    out = capsys.readouterr()
    assert "a@b.example" in out.out and "subject: S" in out.out and "未达标" not in out.out
    assert "1 email" in out.err
    assert inbox.main([str(tmp_path / "none.jsonl")]) == 0
