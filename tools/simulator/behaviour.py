"""How people behave after an add: welcome messages, customer replies and the employee's
answers, mass sends, and churn. Quality (docs/product.md, 定质) is measured on exactly these traces:
a reply within 7 days, same-day answers, one-to-one versus mass, still connected later."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tools.simulator.clock import Hours
from tools.simulator.draws import chance, lognormal_seconds
from tools.simulator.ledger import Ledger

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Engagement:
    """How a kind of contact interacts: probabilities and the length of the first chat."""

    welcome: float
    """The employee sends a one-to-one welcome within minutes of the add."""
    reply: float
    """The customer writes at least once within 7 days."""
    chat_messages: tuple[int, int]
    """How many messages the customer sends when they do write (min, max)."""
    answer: float
    """The employee answers a customer message."""


HONEST = Engagement(welcome=0.8, reply=0.62, chat_messages=(1, 4), answer=0.9)
ENGAGED = Engagement(welcome=0.95, reply=0.8, chat_messages=(1, 5), answer=0.95)
SILENT = Engagement(welcome=0.0, reply=0.0, chat_messages=(0, 0), answer=0.0)
ONE_MESSAGE = Engagement(welcome=0.4, reply=0.75, chat_messages=(1, 1), answer=0.5)
"""A bought contact paid to look alive: it sends a single message and nothing else."""


def employee_answer_time(ledger: Ledger, rng: random.Random, asked_at: datetime) -> datetime:
    """When the employee answers: minutes during working hours; some evenings; else next morning."""
    clock = ledger.clock
    if clock.in_working_hours(asked_at):
        return asked_at + timedelta(seconds=lognormal_seconds(rng, 12 * 60, 1.0))
    local_hour = asked_at.astimezone(clock.calendar.tz).hour
    if 18 <= local_hour < 22 and chance(rng, 0.35):
        return asked_at + timedelta(seconds=lognormal_seconds(rng, 25 * 60, 0.8))
    opening = clock.next_working_moment(asked_at)
    return opening + timedelta(seconds=lognormal_seconds(rng, 20 * 60, 1.0))


def converse(
    ledger: Ledger,
    rng: random.Random,
    employee_id: str,
    external_userid: str,
    added_at: datetime,
    engagement: Engagement,
) -> None:
    """The first week after an add: welcome, the customer's first chat and the answers."""
    if chance(rng, engagement.welcome):
        welcome_at = added_at + timedelta(seconds=rng.uniform(20, 600))
        ledger.message(employee_id, external_userid, welcome_at, "to_customer", "one_to_one")
    if not chance(rng, engagement.reply):
        return
    delay = min(lognormal_seconds(rng, 3 * 3600, 1.4), 6.5 * 86400)
    at = ledger.clock.customer_time(added_at + timedelta(seconds=delay))
    low, high = engagement.chat_messages
    for _ in range(rng.randint(low, high)):
        ledger.message(employee_id, external_userid, at, "from_customer", "one_to_one")
        if chance(rng, engagement.answer):
            at = employee_answer_time(ledger, rng, at)
            ledger.message(employee_id, external_userid, at, "to_customer", "one_to_one")
        at = ledger.clock.customer_time(at + timedelta(seconds=lognormal_seconds(rng, 600, 1.0)))


def honest_churn(
    ledger: Ledger, rng: random.Random, employee_id: str, external_userid: str, added_at: datetime
) -> None:
    """Ordinary churn: a few customers delete the employee (some soon), a few adds are
    removed by the employee (a wrong person, a duplicate account)."""
    draw = rng.random()
    if draw < 0.025:
        at = added_at + timedelta(seconds=rng.uniform(2 * 3600, WEEK.total_seconds()))
        ledger.remove(employee_id, external_userid, at, by_customer=True)
    elif draw < 0.05:
        at = added_at + timedelta(days=rng.uniform(7.5, 40))
        ledger.remove(employee_id, external_userid, at, by_customer=True)
    elif draw < 0.058:
        at = added_at + timedelta(seconds=rng.uniform(3600, 5 * 86400))
        ledger.remove(employee_id, external_userid, at, by_customer=False)


def mass_sends(ledger: Ledger, rng: random.Random, employee_id: str, count: int) -> None:
    """`count` mass sends (群发) on working days to everyone still connected at that moment;
    a few recipients write back and get an answer."""
    days = ledger.clock.working_days
    for day in sorted(rng.sample(days, min(count, len(days)))):
        at = ledger.clock.moment(rng, day, Hours.CORE_OFFICE)
        for ext in ledger.connected(employee_id, at):
            sent = at + timedelta(seconds=rng.uniform(0, 120))
            ledger.message(employee_id, ext, sent, "to_customer", "mass")
            if not ledger.contacts[ext].silent and chance(rng, 0.04):
                asked = ledger.clock.customer_time(sent + timedelta(hours=rng.uniform(0.2, 30)))
                ledger.message(employee_id, ext, asked, "from_customer", "one_to_one")
                answered = employee_answer_time(ledger, rng, asked)
                ledger.message(employee_id, ext, answered, "to_customer", "one_to_one")


@dataclass(frozen=True, slots=True)
class Script:
    """A seller's account paid to look like a real customer (behaving bought adds): it greets
    within minutes of the add, then writes on a fixed rhythm for weeks. Machines and paid
    operators answer on a script, so their latencies are short and regular."""

    greet_within: float
    """Seconds after the add by which the greeting has been sent."""
    latency: float
    """The script's reply latency in seconds, the same for every message."""
    jitter: float
    """Relative spread of that latency (0.1: within ±10 %)."""
    every_days: float
    """Days between two chat sessions."""
    hour: float
    """Local hour at which the sessions start."""
    weeks: float
    """How long the account keeps chatting."""


def scripted_chat(
    ledger: Ledger,
    rng: random.Random,
    employee_id: str,
    external_userid: str,
    added_at: datetime,
    script: Script,
) -> None:
    """The greeting right after the add, then a session every few days at the same hour, each
    message after the script's latency; the employee answers (they know what they bought)."""

    def scripted(after: datetime) -> datetime:
        return after + timedelta(
            seconds=script.latency * rng.uniform(1 - script.jitter, 1 + script.jitter)
        )

    at = added_at + timedelta(seconds=rng.uniform(20, script.greet_within))
    end = added_at + timedelta(weeks=script.weeks)
    session = 0
    while at < end:
        for _ in range(rng.randint(1, 3)):
            ledger.message(employee_id, external_userid, at, "from_customer", "one_to_one")
            answered = employee_answer_time(ledger, rng, at)
            ledger.message(employee_id, external_userid, answered, "to_customer", "one_to_one")
            at = scripted(answered)
        session += 1
        day = ledger.clock.local(
            (added_at + timedelta(days=script.every_days * session))
            .astimezone(ledger.clock.calendar.tz)
            .date()
        )
        at = day + timedelta(hours=script.hour + rng.uniform(-0.2, 0.2))


def human_chat(
    ledger: Ledger,
    rng: random.Random,
    employee_id: str,
    external_userid: str,
    added_at: datetime,
    *,
    writes_first: bool,
    never_replies: bool,
    one_line: bool = False,
) -> None:
    """A real person a prospector met: they write first (they asked about a product) or answer
    the employee's greeting hours or days later; then a conversation at human, irregular
    latencies, and now and then a follow-up weeks later. Some never answer at all; `one_line`
    ones write a single line ("好的, 谢谢"), get their answer and leave it there for now."""
    clock = ledger.clock
    if writes_first:
        first = added_at + timedelta(seconds=min(lognormal_seconds(rng, 15 * 60, 1.3), 3 * 86400))
    else:
        greeting = added_at + timedelta(seconds=rng.uniform(30, 900))
        ledger.message(employee_id, external_userid, greeting, "to_customer", "one_to_one")
        if never_replies:
            return
        first = greeting + timedelta(seconds=min(lognormal_seconds(rng, 5 * 3600, 1.5), 12 * 86400))
    at = clock.customer_time(first)
    sessions = 1 if one_line else 1 + (rng.randint(1, 3) if chance(rng, 0.5) else 0)
    for session in range(sessions):
        for _ in range(1 if one_line else rng.randint(1, 5)):
            ledger.message(employee_id, external_userid, at, "from_customer", "one_to_one")
            if chance(rng, 0.9):
                at = employee_answer_time(ledger, rng, at)
                ledger.message(employee_id, external_userid, at, "to_customer", "one_to_one")
            at = clock.customer_time(at + timedelta(seconds=lognormal_seconds(rng, 20 * 60, 1.6)))
        if session + 1 < sessions:  # a follow-up by the employee some days later
            asked = clock.next_working_moment(at + timedelta(days=rng.expovariate(1 / 6)))
            ledger.message(employee_id, external_userid, asked, "to_customer", "one_to_one")
            wait = lognormal_seconds(rng, 3 * 3600, 1.5)
            at = clock.customer_time(asked + timedelta(seconds=wait))
