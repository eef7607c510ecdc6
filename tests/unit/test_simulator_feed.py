"""The feeder and the command line: NDJSON batches with a bearer token in event-time order,
retries, compressed-time replay, the contact-event hook, and the files the CLI writes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import httpx
import orjson
import pytest

from tools.simulator import Scenario, SimulationConfig, generate
from tools.simulator.cli import main
from tools.simulator.feed import FeedError, callback_xml, event_time, feed, schedule

BASE = "http://ingestor.test"


@cache
def small() -> Scenario:
    return generate(SimulationConfig(seed=11, employees=30, camouflage=1))


class Ingestor:
    """A stand-in for POST /v1/events that records what it got and can fail on demand."""

    def __init__(self, failures: list[int] | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.headers: list[httpx.Headers] = []
        self.failures = list(failures or [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/events"
        if self.failures:
            return httpx.Response(self.failures.pop(0), json={"errors": [{"index": 0}]})
        rows = [json.loads(line) for line in request.content.decode().splitlines()]
        self.batches.append(rows)
        self.headers.append(request.headers)
        return httpx.Response(200, json={"accepted": len(rows)})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def test_posts_ndjson_batches_in_order_with_the_token() -> None:
    records = list(small().records[:1234])
    ingestor = Ingestor()
    result = feed(
        records, BASE, "s3cret", batch_size=500, client=ingestor.client(), sleep=lambda _: None
    )
    assert result.accepted == 1234 and result.batches == 3
    assert [len(b) for b in ingestor.batches] == [500, 500, 234]
    assert [r for b in ingestor.batches for r in b] == records
    for headers in ingestor.headers:
        assert headers["authorization"] == "Bearer s3cret"
        assert headers["content-type"] == "application/x-ndjson"


def test_retries_server_errors_and_raises_on_refusal() -> None:
    records = list(small().records[:10])
    flaky = Ingestor(failures=[503, 500])
    naps: list[float] = []
    assert feed(records, BASE, "t", client=flaky.client(), sleep=naps.append).accepted == 10
    assert len(naps) == 2
    refused = Ingestor(failures=[422])
    with pytest.raises(FeedError, match="422") as caught:
        feed(records, BASE, "s3cret-token", client=refused.client(), sleep=lambda _: None)
    assert "s3cret-token" not in str(caught.value)
    down = Ingestor(failures=[503] * 9)
    with pytest.raises(FeedError, match="failed 3 times"):
        feed(records, BASE, "t", client=down.client(), retries=3, sleep=lambda _: None)


def test_compressed_time_replays_the_month_on_a_real_time_schedule() -> None:
    s = small()
    groups = list(schedule(list(s.records), speed=86_400.0))  # one simulated day per second
    dues = [due for due, _ in groups]
    assert dues == sorted(dues) and dues[0] == 0.0 and dues[-1] <= len(s.clock.days)
    assert sum(len(g) for _, g in groups) == len(s.records)
    for due, group in groups:
        assert all(int((event_time(r) - s.clock.start.timestamp()) / 86_400) == due for r in group)

    now = [0.0]
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        now[0] += seconds

    feed(
        list(s.records),
        BASE,
        "t",
        speed=86_400.0,
        client=Ingestor().client(),
        sleep=nap,
        monotonic=lambda: now[0],
    )
    assert now[0] == pytest.approx(dues[-1])


def test_contact_events_can_go_through_a_callback_sender() -> None:
    records = list(small().records[:3000])
    sent: list[dict[str, Any]] = []
    ingestor = Ingestor()
    result = feed(
        records,
        BASE,
        "t",
        client=ingestor.client(),
        contact_event_sender=sent.append,
        sleep=lambda _: None,
    )
    posted = [r for b in ingestor.batches for r in b]
    assert sent and all(r["type"] == "contact_event" for r in sent)
    assert not any(r["type"] == "contact_event" for r in posted)
    assert result.contact_events_diverted == len(sent)
    assert len(sent) + len(posted) == len(records)

    xml = SafeET.fromstring(callback_xml(sent[0]))
    assert xml.findtext("ChangeType") == sent[0]["ChangeType"]
    assert xml.findtext("UserID") == sent[0]["UserID"]
    assert int(xml.findtext("CreateTime") or 0) == sent[0]["CreateTime"]
    assert xml.findtext("Event") == "change_external_contact"


def test_cli_writes_records_and_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, labels = tmp_path / "scenario.jsonl", tmp_path / "labels.json"
    code = main(
        [
            "--seed",
            "11",
            "--employees",
            "30",
            "--camouflage",
            "1",
            "--out",
            str(out),
            "--labels",
            str(labels),
        ]
    )
    assert code == 0
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == list(small().records)
    truth = json.loads(labels.read_text())
    assert truth["employees"] == small().labels.employees
    assert len(truth["contacts"]) == len(small().labels.contacts)
    assert set(truth["expected"]) == set(small().expected)
    assert main(["--employees", "5"]) == 2
    monkeypatch.delenv("SIMULATOR_TOKEN", raising=False)
    monkeypatch.delenv("INGEST_API_TOKENS", raising=False)
    assert main(["--employees", "30", "--post", BASE]) == 2
