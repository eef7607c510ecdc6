"""The daily digest per supervisor, pure: when it is due (a working day of the business
calendar, at the configured local time), who gets which one (a supervisor's team table in the
team's robot group, the whole table by e-mail or app message), and its text.

A digest's content is a snapshot taken when it is planned and stored with it, so a part sent
again after a crash is the same part, and the figures are those of the day it names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from services.notifier.domain.config import Channel
from services.notifier.domain.routing import destination_of_person
from services.notifier.domain.splitting import split_lines


@dataclass(frozen=True)
class TeamRow:
    employee_id: str
    valid_adds: int
    target: int | None
    name: str = ""
    branch_id: str = ""
    team_id: str = ""

    @property
    def attainment(self) -> float | None:
        """valid / target; None without a target (nothing to attain against)."""
        if self.target is None:
            return None
        return self.valid_adds / self.target if self.target else 1.0

    def sort_key(self) -> tuple[float, str]:
        return (self.attainment if self.attainment is not None else float("inf"), self.employee_id)


@dataclass(frozen=True)
class DailyContent:
    day: date
    period: str
    supervisor: str
    rows: tuple[TeamRow, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "period": self.period,
            "supervisor": self.supervisor,
            "rows": [
                {
                    "employee_id": r.employee_id,
                    "name": r.name,
                    "valid_adds": r.valid_adds,
                    "target": r.target,
                    "branch_id": r.branch_id,
                    "team_id": r.team_id,
                }
                for r in self.rows
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DailyContent:
        return cls(
            day=date.fromisoformat(data["day"]),
            period=data["period"],
            supervisor=data["supervisor"],
            rows=tuple(TeamRow(**r) for r in data["rows"]),
        )

    @property
    def ordered(self) -> list[TeamRow]:
        """Weakest first: whom the supervisor should talk to today."""
        return sorted(self.rows, key=TeamRow.sort_key)

    @property
    def totals(self) -> tuple[int, int | None]:
        targets = [r.target for r in self.rows if r.target is not None]
        return sum(r.valid_adds for r in self.rows), (sum(targets) if targets else None)

    @property
    def attainment(self) -> float | None:
        """The team's: valid adds of those with a target against the sum of their targets."""
        targeted = [r for r in self.rows if r.target is not None]
        target = sum(r.target or 0 for r in targeted)
        if not targeted:
            return None
        return sum(r.valid_adds for r in targeted) / target if target else 1.0


@dataclass(frozen=True)
class DailyPlan:
    channel: Channel
    recipient: str
    destination: str
    content: DailyContent

    @property
    def idempotency_key(self) -> str:
        return "|".join(
            ("daily", self.content.day.isoformat(), self.channel.value, self.destination,
             self.recipient)
        )  # fmt: skip


def due_day(now: datetime, at: time, tz: Any, is_working_day: Any) -> date | None:
    """Today (local) when it is a working day and `at` has passed; else None. A notifier that
    was down at `at` sends today's digest when it comes back the same day; a day it was down
    for entirely is not sent later with later figures (see `missed_days`)."""
    local = now.astimezone(tz)
    if is_working_day(local.date()) and local.time() >= at:
        return local.date()
    return None


def missed_days(last: date | None, today: date, is_working_day: Any) -> list[date]:
    """Working days after the last planned day and before today: days without a digest."""
    if last is None:
        return []
    days = []
    day = last + timedelta(days=1)
    while day < today:
        if is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def plan_daily(
    day: date, period: str, rows: Iterable[tuple[str, TeamRow]], channels: Sequence[Channel]
) -> list[DailyPlan]:
    """One digest per supervisor and channel; in a robot group only that team's rows (a
    supervisor of two teams has two groups). `rows`: (supervisor, row)."""
    plans: list[DailyPlan] = []
    ordered = sorted(rows, key=lambda sr: (sr[0], sr[1].branch_id, sr[1].team_id))
    for supervisor, members in groupby(ordered, key=lambda sr: sr[0]):
        team_rows = [r for _, r in members]
        for channel in dict.fromkeys(channels):
            if channel is Channel.ROBOT:
                by_team = groupby(team_rows, key=lambda r: (r.branch_id, r.team_id))
                for (branch, team), group in by_team:
                    content = DailyContent(day, period, supervisor, tuple(group))
                    where = f"team:{branch}/{team}"
                    plans.append(DailyPlan(channel, supervisor, where, content))
                continue
            where_to = destination_of_person(channel, supervisor)
            if where_to is not None:
                content = DailyContent(day, period, supervisor, tuple(team_rows))
                plans.append(DailyPlan(channel, supervisor, where_to, content))
    return plans


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def title(content: DailyContent) -> str:
    return f"{content.day.isoformat()} 团队日报 daily digest ({content.period})"


def table_lines(content: DailyContent) -> list[str]:
    lines = [
        "| 员工 employee | 有效 valid | 目标 target | 达成 attainment |",
        "|---|---|---|---|",
    ]
    for r in content.ordered:
        who = f"{r.name} ({r.employee_id})" if r.name and r.name != r.employee_id else r.employee_id
        lines.append(f"| {who} | {r.valid_adds} | {_count(r.target)} | {_percent(r.attainment)} |")
    valid, target = content.totals
    lines.append(
        f"| **合计 total** | {valid} | {_count(target)} | {_percent(content.attainment)} |"
    )
    return lines


def markdown_parts(content: DailyContent, limit: int, mention: bool = True) -> list[str]:
    """The table as markdown within `limit` bytes a part; each part repeats the header row."""
    head = f"**{title(content)}**" + (f" <@{content.supervisor}>" if mention else "")
    header_rows, rows = table_lines(content)[:2], table_lines(content)[2:]

    def header(i: int, n: int) -> str:
        count = f" ({i}/{n})" if n > 1 else ""
        return f"{head}{count}\n" + "\n".join(header_rows)

    return split_lines(header, rows, limit)


def plain_text(content: DailyContent) -> str:
    lines = [title(content), ""]
    for r in content.ordered:
        lines.append(
            f"{r.employee_id:<16} valid {r.valid_adds:>4}  target {_count(r.target):>4}  "
            f"attainment {_percent(r.attainment)}"
        )
    valid, target = content.totals
    total = valid / target if target else None
    lines.append(
        f"{'total':<16} valid {valid:>4}  target {_count(target):>4}  attainment {_percent(total)}"
    )
    return "\n".join(lines) + "\n"
