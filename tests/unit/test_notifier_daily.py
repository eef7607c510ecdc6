"""The daily digest, pure: when it is due, who gets which table, its text within the robot's
limits, and a chart that renders the same bytes for the same content (a re-sent part carries
the same md5)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.notifier.channels.email import EmailChannel, MailPart
from services.notifier.channels.robot import RobotImage, robot_message
from services.notifier.daily_chart import attainment_chart, chart_within
from services.notifier.domain.config import Channel, ConfigError, NotifierConfig, Smtp
from services.notifier.domain.daily import (
    DailyContent,
    TeamRow,
    due_day,
    markdown_parts,
    missed_days,
    plain_text,
    plan_daily,
)
from services.notifier.domain.splitting import ROBOT_MARKDOWN_LIMIT, utf8_len
from shared.calendar import BusinessCalendar, CalendarOverrides
from tests.clocks import AS_OF

CAL = BusinessCalendar()
TZ = CAL.tz
ROWS = (
    TeamRow("e1", 3, 10, "张三", "b1", "t1"),
    TeamRow("e2", 12, 12, "", "b1", "t1"),
    TeamRow("e3", 0, None, "", "b1", "t1"),
    TeamRow("e4", 1, 5, "", "b1", "t1"),
)


def content(rows: tuple[TeamRow, ...] = ROWS) -> DailyContent:
    return DailyContent(date(2026, 11, 2), "2026-11", "lead1", rows)


def local(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).astimezone(UTC)


def test_due_on_working_days_once_the_local_time_has_passed() -> None:
    at = time(8, 30)
    # Monday 2 Nov 2026
    assert due_day(local(2026, 11, 2, 8, 29), at, TZ, CAL.is_working_day) is None
    assert due_day(local(2026, 11, 2, 8, 30), at, TZ, CAL.is_working_day) == date(2026, 11, 2)
    assert due_day(local(2026, 11, 2, 23, 0), at, TZ, CAL.is_working_day) == date(2026, 11, 2)
    # Saturday, and a bank holiday from the override file
    assert due_day(local(2026, 11, 7, 9, 0), at, TZ, CAL.is_working_day) is None
    holiday = BusinessCalendar(CalendarOverrides.model_validate({"holidays": ["2026-11-02"]}))
    assert due_day(local(2026, 11, 2, 9, 0), at, TZ, holiday.is_working_day) is None


@pytest.mark.parametrize("day", AS_OF)
def test_due_on_the_local_day_once_the_time_has_passed_on_any_day(day: datetime) -> None:
    today = day.astimezone(TZ)
    working = BusinessCalendar(
        CalendarOverrides.model_validate({"working_days": [today.date().isoformat()]})
    )
    assert due_day(day, today.time(), TZ, working.is_working_day) == today.date()
    later = (today + timedelta(minutes=1)).time()
    assert due_day(day, later, TZ, working.is_working_day) is None
    off = BusinessCalendar(
        CalendarOverrides.model_validate({"holidays": [today.date().isoformat()]})
    )
    assert due_day(day, time(0), TZ, off.is_working_day) is None


def test_missed_working_days_between_planned_days() -> None:
    # planned Thursday 29 Oct, next planned Tuesday 3 Nov: Friday and Monday were missed
    assert missed_days(date(2026, 10, 29), date(2026, 11, 3), CAL.is_working_day) == [
        date(2026, 10, 30),
        date(2026, 11, 2),
    ]
    assert missed_days(date(2026, 10, 30), date(2026, 11, 2), CAL.is_working_day) == []
    assert missed_days(None, date(2026, 11, 2), CAL.is_working_day) == []


def test_plans_one_digest_per_supervisor_and_channel_robot_per_team() -> None:
    rows = [
        ("lead1", TeamRow("e1", 3, 10, "", "b1", "t1")),
        ("lead1", TeamRow("e9", 1, 10, "", "b1", "t2")),
        ("lead2", TeamRow("e5", 7, 10, "", "b1", "t3")),
    ]
    plans = plan_daily(date(2026, 11, 2), "2026-11", rows, [Channel.ROBOT, Channel.EMAIL])
    got = [(p.channel, p.recipient, p.destination, len(p.content.rows)) for p in plans]
    assert got == [
        (Channel.ROBOT, "lead1", "team:b1/t1", 1),
        (Channel.ROBOT, "lead1", "team:b1/t2", 1),
        (Channel.EMAIL, "lead1", "employee:lead1", 2),
        (Channel.ROBOT, "lead2", "team:b1/t3", 1),
        (Channel.EMAIL, "lead2", "employee:lead2", 1),
    ]
    keys = [p.idempotency_key for p in plans]
    assert len(set(keys)) == len(keys) and keys[0] == "daily|2026-11-02|robot|team:b1/t1|lead1"


def test_content_round_trips_through_json() -> None:
    assert DailyContent.from_json(content().to_json()) == content()


def test_table_lists_the_weakest_first_with_totals_and_mention() -> None:
    (text,) = markdown_parts(content(), ROBOT_MARKDOWN_LIMIT)
    assert "<@lead1>" in text
    assert text.index("| e4 ") < text.index("张三 (e1)") < text.index("| e2 ") < text.index("| e3 ")
    assert "| e3 | 0 | – | – |" in text
    assert "| **合计 total** | 16 | 27 | 59% |" in text
    assert "total" in plain_text(content()) and "59%" in plain_text(content())


def test_a_large_team_is_split_within_4096_bytes_each_part_with_the_header_row() -> None:
    many = tuple(TeamRow(f"employee{i:03d}", i, 100, "客户经理" * 10) for i in range(200))
    parts = markdown_parts(content(many), ROBOT_MARKDOWN_LIMIT)
    assert len(parts) > 1 and all(utf8_len(p) <= ROBOT_MARKDOWN_LIMIT for p in parts)
    assert all("| 员工 employee |" in p and "<@lead1>" in p for p in parts)
    assert sum(p.count("| 客户经理") for p in parts) == 200


def test_chart_is_a_png_with_a_stable_md5_sent_as_a_robot_image() -> None:
    png = attainment_chart(content())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.md5(attainment_chart(content())).digest() == hashlib.md5(png).digest()
    message = robot_message(RobotImage(png))
    assert message["msgtype"] == "image"
    assert message["image"]["md5"] == hashlib.md5(png).hexdigest()
    # too large for the robot at every resolution: no image, the table still goes
    assert chart_within(content(), limit=1000) is None


def test_email_renders_html_with_the_chart_inline_and_a_plain_alternative() -> None:
    channel = EmailChannel(Smtp(host="localhost", sender="a@b.example"), None, 5.0)
    (part,) = channel.render_daily(content())
    assert isinstance(part, MailPart) and part.inline_png is not None
    assert "cid:attainment-chart@wecom-notifier" in part.html
    assert "e4" in part.plain and "<" not in part.plain


def test_daily_digest_config_names_a_time_and_person_channels() -> None:
    cfg = NotifierConfig.from_mapping(
        {"daily_digest": {"at": "08:30", "channels": ["robot", "log"]}}
    )
    assert cfg.daily_digest is not None and cfg.daily_digest.at == time(8, 30)
    with pytest.raises(ConfigError, match=r"daily_digest\.channels"):
        NotifierConfig.from_mapping({"daily_digest": {"at": "08:30", "channels": ["webhook"]}})
    with pytest.raises(ConfigError, match="quotes"):
        NotifierConfig.from_mapping({"daily_digest": {"at": 510, "channels": ["robot"]}})
    with pytest.raises(ConfigError, match="smtp"):
        NotifierConfig.from_mapping({"daily_digest": {"at": "08:30", "channels": ["email"]}})
