"""The notifier's pure decisions: routing, splitting, holding, silences, ack links, the robot
send window, escalation timing and the routing file's errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from services.notifier.domain.acklink import AckLink, AckLinkError, AckLinks
from services.notifier.domain.config import Channel, ConfigError, NotifierConfig, Timing
from services.notifier.domain.digest import Digest, DigestItem, digest_key, markdown_parts
from services.notifier.domain.escalation import escalation_due, next_in_chain
from services.notifier.domain.holding import in_quiet_hours, next_allowed
from services.notifier.domain.ops_notices import close_held_summary, notice_summary
from services.notifier.domain.ratelimit import take
from services.notifier.domain.routing import AlertFacts, plan_escalation, plan_initial
from services.notifier.domain.silences import ActiveSilence, Matcher, silenced_by
from services.notifier.domain.splitting import split_lines, utf8_len
from shared.calendar import BusinessCalendar
from tests.clocks import AS_OF

SHANGHAI = BusinessCalendar().tz


def facts(alertname: str = "TargetMissed", supervisor: str | None = "lead1") -> AlertFacts:
    return AlertFacts(alertname, "firing", "e1", "2026-10", supervisor, "t1", "b1")


def config(**data: object) -> NotifierConfig:
    return NotifierConfig.from_mapping(data)


# routing


def test_supervisor_gets_routed_channels_and_catch_all_one_per_alert() -> None:
    cfg = config(
        routes=[
            {"match": {"alertname": ["AnomalyFlagged"]}, "channels": ["app"]},
            {"match": {"team_id": ["t1"]}, "channels": ["robot", "log"]},
        ],
        wecom_app={"agent_id": 1},
    )
    plans = plan_initial(facts(), cfg, "http://hook")
    assert [(p.channel, p.recipient, p.destination) for p in plans] == [
        (Channel.ROBOT, "lead1", "team:b1/t1"),
        (Channel.LOG, "lead1", "log"),
        (Channel.WEBHOOK, "http://hook", "http://hook"),
    ]
    hook = plans[-1]
    assert hook.group_key(facts()) == "alert:" + hook.idempotency_key(facts())
    assert plans[0].group_key(facts()) == "robot|team:b1/t1|lead1|2026-10"


def test_first_match_wins_unless_continue() -> None:
    cfg = config(
        routes=[
            {"channels": ["log"], "continue": True},
            {"channels": ["robot"]},
            {"channels": ["email"]},
        ],
        smtp={"host": "h", "sender": "a@b"},
    )
    assert [p.channel for p in plan_initial(facts(), cfg, None)] == [Channel.LOG, Channel.ROBOT]


def test_anomalies_also_reach_risk_compliance() -> None:
    cfg = config(
        risk_compliance={"recipients": ["risk1", "risk@bank.cn"], "channels": ["app", "email"]},
        wecom_app={"agent_id": 1},
        smtp={"host": "h", "sender": "a@b"},
    )
    plans = plan_initial(facts("AnomalyFlagged"), cfg, None)
    assert {(p.channel, p.recipient) for p in plans} == {
        (Channel.LOG, "lead1"),
        (Channel.APP, "risk1"),
        (Channel.EMAIL, "risk1"),
        (Channel.EMAIL, "risk@bank.cn"),  # an address cannot get an app message
    }
    assert all(p.recipient == "lead1" for p in plan_initial(facts(), cfg, None))
    # officers found in the org data by role join the configured ones, once each
    by_role = plan_initial(facts("AnomalyFlagged"), cfg, None, ["risk1", "officer7"])
    assert sorted(p.recipient for p in by_role if p.channel is Channel.EMAIL) == [
        "officer7",
        "risk1",
        "risk@bank.cn",
    ]
    assert all(p.recipient == "lead1" for p in plan_initial(facts(), cfg, None, ["officer7"]))


def test_no_supervisor_goes_to_ops_and_escalation_has_its_level() -> None:
    cfg = config(ops_recipients=["ops1"])
    assert [p.recipient for p in plan_initial(facts(supervisor=None), cfg, None)] == ["ops1"]
    assert [(p.recipient, p.level) for p in plan_escalation(facts(), "head1", 1, cfg)] == [
        ("head1", 1)
    ]


def close_held(status: str = "firing", supervisor: str | None = None) -> AlertFacts:
    return AlertFacts("CloseHeld", status, None, "2026-10", supervisor, None, None)


def test_a_held_close_goes_to_ops_once_per_period_and_never_escalates_to_a_supervisor() -> None:
    cfg = config(
        ops_recipients=["ops1"],
        routes=[
            {"match": {"alertname": ["DataStale", "CloseHeld"]}, "channels": ["log", "webhook"],
             "webhook_url": "http://ops-hook"},
            {"channels": ["robot"]},
        ],
    )  # fmt: skip
    plans = plan_initial(close_held(), cfg, None)
    assert [(p.channel, p.recipient) for p in plans] == [
        (Channel.LOG, "ops1"),
        (Channel.WEBHOOK, "http://ops-hook"),
    ]
    # a supervisor named by mistake changes nothing: the pipeline is ops' business
    assert plan_initial(close_held(supervisor="lead1"), cfg, None) == plans
    # one notice per period and status, whatever the event (a re-sent or updated hold)
    keys = {p.idempotency_key(close_held()) for p in plans}
    assert keys == {
        "CloseHeld|-|2026-10|log|ops1|firing",
        f"CloseHeld|-|2026-10|webhook|{plans[1].recipient}|firing",
    }
    assert {p.idempotency_key(close_held("resolved")) for p in plans}.isdisjoint(keys)


def test_a_held_close_says_what_is_held_why_and_how_to_force() -> None:
    values = {
        "reasons": [
            "contact_watermark", "source_watermark:crm", "profile_unknown:12", "data_stale",
            "new_reason",
        ]
    }  # fmt: skip
    text = close_held_summary("2026-10", values, "firing", "scorer words")
    assert text.startswith("the close of 2026-10 is held: ")
    assert "WeCom contact events up to the period's end" in text
    assert "bank source crm has not declared itself complete" in text
    assert "12 contacts added in the period still wait for their WeCom profile" in text
    assert "WeCom data is stale" in text
    assert "new_reason" in text  # a reason unknown here is shown as sent
    assert "POST /v1/periods/2026-10/close?force=true closes it anyway" in text
    # no usable reasons: the scorer's words stand in
    assert "is held: scorer words." in close_held_summary(
        "2026-10", {"reasons": 3}, "firing", "scorer words"
    )
    resolved = close_held_summary("2026-10", values, "resolved", "forced by ops")
    assert resolved == "the close of 2026-10 is no longer held: the period closed (forced by ops)"


def test_only_a_held_close_gets_the_notifiers_words() -> None:
    values = {"reasons": ["data_stale"]}
    assert notice_summary("DataStale", "2026-11-30", values, "firing", "no events") == "no events"
    assert "WeCom data is stale" in notice_summary("CloseHeld", "2026-10", values, "firing", "")


def test_a_held_close_has_a_title_in_digests() -> None:
    held = DigestItem(
        1, "CloseHeld", "firing", None, "2026-10", None, None, None, "the close of 2026-10 is held",
        datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip
    assert "关账暂缓 Close held" in markdown_parts(Digest("ops1", "2026-10", (held,)), 4096)[0]


# the routing file


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes\.0\.match\.alertname\.0"):
        config(routes=[{"match": {"alertname": ["TargetMised"]}, "channels": ["log"]}])
    with pytest.raises(ConfigError, match=r"routes\.0\.chanels: unknown key"):
        config(routes=[{"chanels": ["log"]}])
    with pytest.raises(ConfigError, match="smtp is missing"):
        config(routes=[{"channels": ["email"]}])
    with pytest.raises(ConfigError, match="quotes"):
        config(timing={"quiet_hours": {"start": 1260, "end": "08:00"}})
    bad = tmp_path / "n.yaml"
    bad.write_text("routes: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        NotifierConfig.from_yaml(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        NotifierConfig.from_yaml(tmp_path / "missing.yaml")


def test_example_routing_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "notifier" / "routing.example.yaml"
    cfg = NotifierConfig.from_yaml(example)
    assert cfg.routes and cfg.risk_compliance.recipients


# splitting and digests


def item(n: int, summary: str) -> DigestItem:
    return DigestItem(
        n, "TargetMissed", "firing", f"e{n}", "2026-10", "lead1", "t1", "b1", summary,
        datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip


def test_markdown_parts_fit_4096_bytes_keep_every_line_and_mention() -> None:
    digest = Digest("lead1", "2026-10", tuple(item(i, f"e{i} " + "未达标" * 60) for i in range(50)))
    parts = markdown_parts(digest, 4096)
    assert len(parts) > 1
    assert all(utf8_len(p) <= 4096 and "<@lead1>" in p for p in parts)
    joined = "\n".join(parts)
    assert all(f"e{i} " in joined for i in range(50))
    assert parts == markdown_parts(digest, 4096)  # deterministic: a re-send repeats a part


def test_an_overlong_line_is_truncated_on_a_character_boundary() -> None:
    parts = split_lines(lambda i, n: "H", ["长" * 3000], 4096)
    assert len(parts) == 1 and utf8_len(parts[0]) <= 4096 and parts[0].endswith("…")


def test_digest_key_is_the_notice_key_alone_and_stable_for_many() -> None:
    assert digest_key(["a"]) == "a"
    assert digest_key(["a", "b"]) == digest_key(["b", "a"]) != digest_key(["a", "c"])


# holding


def at(day: str, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hh, mm), SHANGHAI)


def test_quiet_hours_wrap_midnight() -> None:
    from services.notifier.domain.config import QuietHours

    quiet = QuietHours(start=time(21), end=time(8))
    assert in_quiet_hours(time(23), quiet) and in_quiet_hours(time(7, 59), quiet)
    assert not in_quiet_hours(time(8), quiet) and not in_quiet_hours(time(20, 59), quiet)


def test_held_until_next_allowed_time() -> None:
    cal = BusinessCalendar()
    timing = Timing.model_validate(
        {"quiet_hours": {"start": "21:00", "end": "08:00"}, "working_days_only": True}
    )
    # Wednesday 2026-10-14 22:00 → Thursday 08:00
    assert next_allowed(at("2026-10-14", 22), timing, cal) == at("2026-10-15", 8)
    # Friday 2026-10-16 23:00 → Monday 2026-10-19 08:00
    assert next_allowed(at("2026-10-16", 23), timing, cal) == at("2026-10-19", 8)
    # National Day 2026-10-01 (a holiday) 10:00 → the first working day after the holidays
    released = next_allowed(at("2026-10-01", 10), timing, cal).astimezone(SHANGHAI)
    assert released.time() == time(8) and cal.is_working_day(released.date())
    assert released.date() > date(2026, 10, 1)
    allowed = at("2026-10-14", 10)
    assert next_allowed(allowed, timing, cal) == allowed


@pytest.mark.parametrize("day", AS_OF)
def test_held_until_an_allowed_instant_on_any_day(day: datetime) -> None:
    cal = BusinessCalendar()
    timing = Timing.model_validate(
        {"quiet_hours": {"start": "21:00", "end": "08:00"}, "working_days_only": True}
    )
    assert timing.quiet_hours is not None
    released = next_allowed(day, timing, cal)
    local = released.astimezone(SHANGHAI)
    assert released >= day and released - day < timedelta(days=10)
    assert cal.is_working_day(local.date()) and not in_quiet_hours(local.time(), timing.quiet_hours)
    assert next_allowed(released, timing, cal) == released


# silences


def test_silence_matchers_and_window() -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    silence = ActiveSilence(
        7,
        (
            Matcher(name="team_id", value="t[12]", is_regex=True),
            Matcher(name="alertname", value="PaceBehind", is_equal=False),
        ),
        start,
        start + timedelta(hours=1),
    )
    labels = {"team_id": "t1", "alertname": "TargetMissed"}
    assert silenced_by(labels, [silence], start) == 7
    assert silenced_by({**labels, "alertname": "PaceBehind"}, [silence], start) is None
    assert silenced_by({**labels, "team_id": "t3"}, [silence], start) is None
    assert silenced_by(labels, [silence], start + timedelta(hours=1)) is None
    with pytest.raises(ValueError, match="bad regular expression"):
        Matcher(name="x", value="(", is_regex=True)


# ack links


def test_ack_link_round_trip_forgery_and_expiry() -> None:
    links = AckLinks("s" * 32, "https://n.example/", valid_for=timedelta(days=1))
    now = datetime(2026, 10, 15, tzinfo=UTC)
    token = links.token(42, "lisi", now)
    assert links.verify(token, now) == AckLink(42, "lisi")
    assert links.url(42, "lisi", now).startswith("https://n.example/v1/ack?token=42.")
    with pytest.raises(AckLinkError, match="signature"):
        links.verify(token.replace("42.", "43.", 1), now)
    other = links.token(42, "wangwu", now).split(".")[1]  # one recipient's link, another's name
    with pytest.raises(AckLinkError, match="signature"):
        links.verify(".".join([*token.split(".")[:1], other, *token.split(".")[2:]]), now)
    with pytest.raises(AckLinkError, match="malformed"):
        links.verify("42." + token.split(".", 2)[2], now)  # the recipient cut out
    with pytest.raises(AckLinkError, match="signature"):
        AckLinks("t" * 32, "x").verify(token, now)
    with pytest.raises(AckLinkError, match="expired"):
        links.verify(token, now + timedelta(days=2))
    with pytest.raises(AckLinkError, match="malformed"):
        links.verify("nonsense", now)
    # text no digest compares (hmac.compare_digest refuses non-ASCII) and digits int() refuses
    for hostile in (token.rsplit(".", 1)[0] + ".é", "².bGlzaQ.².x"):
        with pytest.raises(AckLinkError, match="malformed"):
            links.verify(hostile, now)
    with pytest.raises(ValueError, match="NOTIFIER_ACK_SECRET"):
        AckLinks("short", "x")


@pytest.mark.parametrize("day", AS_OF)
def test_an_ack_link_expires_after_its_validity_on_any_day(day: datetime) -> None:
    links = AckLinks("s" * 32, "https://n.example/")
    token = links.token(7, "lisi", day)
    assert links.verify(token, day + timedelta(days=13, hours=23)) == AckLink(7, "lisi")
    with pytest.raises(AckLinkError, match="expired"):
        links.verify(token, day + timedelta(days=14, seconds=1))


# the robot's send window


def test_no_window_holds_more_than_the_limit() -> None:
    t0 = datetime(2026, 10, 15, tzinfo=UTC)
    sent: tuple[datetime, ...] = ()
    granted = []
    now = t0
    for _ in range(100):
        decision = take(sent, now, limit=20)
        sent = decision.sent
        if decision.granted:
            granted.append(now)
        now = max(now + timedelta(seconds=0.5), decision.retry_at if not decision.granted else now)
    for i, t in enumerate(granted):
        assert sum(1 for u in granted[i:] if u - t < timedelta(minutes=1)) <= 20
    assert len(granted) >= 20
    blocked = take((), t0, blocked_until=t0 + timedelta(minutes=1))
    assert not blocked.granted and blocked.retry_at == t0 + timedelta(minutes=1)


# escalation


def test_escalation_counts_working_hours_only() -> None:
    cal = BusinessCalendar()
    friday_evening = at("2026-10-16", 17)
    assert not escalation_due(friday_evening, at("2026-10-18", 20), 2, cal)  # the weekend
    assert escalation_due(friday_evening, at("2026-10-19", 10), 2, cal)  # 1 h Fri + 1 h Mon
    assert next_in_chain(["lead1", "head1"], 1) == "head1"
    assert next_in_chain(["lead1", "head1"], 2) is None
