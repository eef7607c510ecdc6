"""What one `externalcontact/get` attempt means: profiles, a recorded not-found, or a failure
with a reason (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingestor.enrichment.wecom_api import WeComApiError
from services.ingestor.lookups.answers import (
    Failed,
    NoSuchContact,
    Profiled,
    judge_answer,
    judge_error,
)

AT = datetime(2026, 10, 15, 9, tzinfo=UTC)


def answer(external_userid: str = "wmA", **extra: object) -> dict[str, object]:
    return {
        "errcode": 0,
        "external_contact": {
            "external_userid": external_userid,
            "type": 2,
            "corp_name": "某某银行",
        },
        "follow_user": [
            {"userid": "e1", "add_way": 202, "state": "s", "oper_userid": "e9", "createtime": 5},
            {"userid": "e2", "add_way": 1, "createtime": 6},
        ],
        **extra,
    }


def test_one_profile_per_follower_looked_up_for() -> None:
    verdict = judge_answer("wmA", answer(), ["e1", "e2"], AT)
    assert isinstance(verdict, Profiled)
    got = {r.employee_id: (r.add_way, r.corp_name, r.found) for r in verdict.records}
    assert got == {"e1": (202, "某某银行", True), "e2": (1, "某某银行", True)}


def test_a_follower_the_answer_no_longer_lists_gets_the_contact_alone() -> None:
    verdict = judge_answer("wmA", answer(), ["e7"], AT)
    assert isinstance(verdict, Profiled)
    [record] = verdict.records
    assert (record.employee_id, record.contact_type, record.corp_name) == (None, 2, "某某银行")


@pytest.mark.parametrize(
    "body",
    [
        {"errcode": 0},
        answer("wmOther"),
        answer(follow_user="nope"),
        answer(follow_user=[1, 2]),
        {"errcode": 0, "external_contact": "wmA"},
    ],
)
def test_an_answer_not_of_the_documented_shape_is_garbage(body: dict[str, object]) -> None:
    verdict = judge_answer("wmA", body, ["e1"], AT)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "garbage" and verdict.wecom_failing


@pytest.mark.parametrize("errcode", [84061, 40096])
def test_no_such_contact_is_a_recorded_result(errcode: int) -> None:
    verdict = judge_error("wmA", WeComApiError("externalcontact/get", errcode, "no"), AT)
    assert isinstance(verdict, NoSuchContact)
    record = verdict.record
    assert (record.external_userid, record.found, record.lookup_errcode) == (
        "wmA",
        False,
        errcode,
    )
    assert record.employee_id is None and record.entity_key() == "contact:wmA"


@pytest.mark.parametrize(
    ("errcode", "reason", "expected"),
    [
        (45009, "", "rate_limited"),
        (-1, "", "busy"),
        (99999, "", "other_errcode"),
        (48002, "", "other_errcode"),
        (None, "http_503", "http_5xx"),
        (None, "http_429", "http_4xx"),
        (None, "timeout", "timeout"),
        (None, "garbage", "garbage"),
        (None, "network", "network"),
    ],
)
def test_every_other_failure_is_retried_with_its_reason(
    errcode: int | None, reason: str, expected: str
) -> None:
    verdict = judge_error("wmA", WeComApiError("externalcontact/get", errcode, "x", reason), AT)
    assert isinstance(verdict, Failed) and verdict.reason == expected
    # a 45009 slows the pace down; it is no sign of an outage for the breaker
    assert verdict.wecom_failing == (expected != "rate_limited")


def test_hostile_characters_in_an_answer_are_dropped_and_the_profile_kept() -> None:
    """WeCom's own free text (a company name with a NUL or a direction mark) is no reason to
    lose a contact's profile: the characters go, the answer is recorded."""
    body = {
        "errcode": 0,
        "external_contact": {"external_userid": "wmA", "type": 2, "corp_name": "a\x00b\u200f银行"},
    }
    verdict = judge_answer("wmA", body, ["e1"], AT)
    assert isinstance(verdict, Profiled)
    assert [r.corp_name for r in verdict.records] == ["ab银行"]
