"""Feeding a scenario as WeCom does: each contact event an encrypted, signed callback that the
ingestor's own crypto opens to the same fields; the WeCom API stand-in knows every contact and
follow the scenario's profiles describe; profiles stay off `/v1/events`."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

import httpx
import pytest

from services.ingestor.wecom.crypto import CallbackCrypto
from services.ingestor.wecom.xml import parse_envelope, parse_event
from tools.simulator import Scenario, SimulationConfig, generate
from tools.simulator.callbacks import CallbackSender, api_contacts, without_profiles
from tools.simulator.feed import FeedError, feed
from tools.wecom.client import WeComClient, random_aes_key

BASE = "http://ingestor.test"


@cache
def small() -> Scenario:
    return generate(SimulationConfig(seed=5, employees=30, camouflage=2))


class CallbackEndpoint:
    """POST /wecom/callback as the ingestor answers it, opened with the ingestor's crypto."""

    def __init__(self, crypto: CallbackCrypto, refuse: int | None = None) -> None:
        self.crypto = crypto
        self.refuse = refuse
        self.events: list[dict[str, str]] = []
        self.batches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/events":
            self.batches += 1
            lines = request.content.decode().splitlines()
            assert all('"contact_profile"' not in line for line in lines)
            return httpx.Response(200, json={"accepted": len(lines)})
        assert request.url.path == "/wecom/callback"
        if self.refuse is not None:
            return httpx.Response(self.refuse, text="signature mismatch")
        q = request.url.params
        envelope = parse_envelope(request.content)
        plain = self.crypto.decrypt_verified(
            q["msg_signature"], q["timestamp"], q["nonce"], envelope.encrypt
        )
        self.events.append(parse_event(plain))
        return httpx.Response(200, text="success")


def wecom_pair(corp_id: str) -> tuple[WeComClient, CallbackCrypto]:
    key = random_aes_key()
    return WeComClient("tok3n", key, corp_id), CallbackCrypto("tok3n", key, corp_id)


@pytest.mark.parametrize("workers", [1, 4])
def test_contact_events_arrive_as_callbacks_the_ingestor_can_open(workers: int) -> None:
    scenario = small()
    wecom, crypto = wecom_pair(scenario.config.corp_id)
    endpoint = CallbackEndpoint(crypto)
    http = httpx.Client(transport=httpx.MockTransport(endpoint))
    records = without_profiles(scenario.records)[:3000]
    sender = CallbackSender(BASE, wecom, client=http, workers=workers)
    result = feed(records, BASE, "t", contact_event_sender=sender, client=http)
    sender.close()
    sent = [r for r in records if r["type"] == "contact_event"]
    assert result.contact_events_diverted == sender.sent == len(sent) > 0
    assert endpoint.batches >= 1

    def by_employee(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, int]]]:
        out: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        for e in events:
            out[e["UserID"]].append((e["ChangeType"], e["ExternalUserID"], int(e["CreateTime"])))
        return out

    # each employee's callbacks arrive in their order, whatever the concurrency
    assert by_employee(endpoint.events) == by_employee(sent)
    states = {(e["ExternalUserID"], e.get("State") or "") for e in sent}
    assert {(e["ExternalUserID"], e.get("State", "")) for e in endpoint.events} == states


def test_a_refused_callback_stops_the_feed_with_the_reason() -> None:
    scenario = small()
    wecom, crypto = wecom_pair(scenario.config.corp_id)
    http = httpx.Client(transport=httpx.MockTransport(CallbackEndpoint(crypto, refuse=403)))
    event = next(r for r in scenario.records if r["type"] == "contact_event")
    with pytest.raises(FeedError, match="403 signature mismatch"):
        CallbackSender(BASE, wecom, client=http)(event)
    concurrent = CallbackSender(BASE, wecom, client=http, workers=2)
    concurrent(event)
    with pytest.raises(FeedError, match="403 signature mismatch"):
        concurrent.close()


def test_the_api_stand_in_knows_every_profiled_contact_and_follow() -> None:
    records = small().records
    contacts = api_contacts(records)
    profiles: list[dict[str, Any]] = [r for r in records if r["type"] == "contact_profile"]
    assert set(contacts) == {p["external_userid"] for p in profiles}
    for p in profiles:
        contact = contacts[p["external_userid"]]
        assert contact.type == p["contact_type"]
        assert contact.corp_name == (p["corp_name"] or "")
        follow = next(f for f in contact.follows if f.userid == p["employee_id"])
        first = min(
            (
                q
                for q in profiles
                if q["external_userid"] == p["external_userid"]
                and q["employee_id"] == p["employee_id"]
            ),
            key=lambda q: q["createtime"],
        )
        assert (follow.add_way, follow.state, follow.createtime) == (
            first["add_way"],
            first["state"] or "",
            first["createtime"],
        )
