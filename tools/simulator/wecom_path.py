"""The simulator's WeCom path (`--callbacks`): each month's contacts handed to the WeCom
stand-in (tools/wecom_standin.py), its contact events sent as encrypted, signed callbacks to
the ingestor's `/wecom/callback`, the rest on `/v1/events`; once the month is fed, the stand-in
keeps only the relations still alive, as WeCom would answer a reconciliation."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from tools.simulator.callbacks import (
    CallbackSender,
    api_contacts,
    put_contacts,
    settled,
    without_profiles,
)
from tools.simulator.feed import FeedError, FeedResult, feed
from tools.simulator.scenario import Scenario
from tools.wecom.client import WeComClient

CALLBACK_WORKERS = 4
"""Callbacks in flight at once, as WeCom's servers send them (each employee's in order)."""


@dataclass(frozen=True)
class WeComPath:
    """Where the callbacks go and how they are signed: the corp's callback configuration."""

    standin_url: str
    wecom: WeComClient

    @classmethod
    def from_env(cls, standin_url: str) -> WeComPath:
        """The ingestor's own callback settings, as `make up` exports them."""
        token = os.environ.get("WECOM_CALLBACK_TOKEN", "")
        key = os.environ.get("WECOM_CALLBACK_AES_KEY", "")
        corp_id = os.environ.get("WECOM_CORP_ID", "")
        if not (token and key and corp_id):
            raise FeedError(
                "--callbacks needs WECOM_CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY and WECOM_CORP_ID"
            )
        return cls(standin_url, WeComClient(token, key, corp_id))


def feed_month(
    scenario: Scenario, base_url: str, token: str, path: WeComPath, speed: float | None
) -> FeedResult:
    """Feed one month the way WeCom and the bank do; raises FeedError on a refusal."""
    contacts = api_contacts(scenario.records)
    with httpx.Client(timeout=60.0) as http:
        put_contacts(path.standin_url, contacts, http)
        sender = CallbackSender(base_url, path.wecom, workers=CALLBACK_WORKERS)
        try:
            result = feed(
                without_profiles(scenario.records),
                base_url,
                token,
                speed=speed,
                contact_event_sender=sender,
            )
        finally:
            sender.close()
        settled(contacts, scenario.records)
        put_contacts(path.standin_url, contacts, http)
    return result
