"""Feeding a scenario the way WeCom does: contact events as encrypted, signed callbacks to the
ingestor's `/wecom/callback`, and what `externalcontact/get` would answer served by the WeCom
REST stand-in, so the ingestor enriches each add itself instead of reading the scenario's
`contact_profile` records. Bank records and chat metadata still go to `/v1/events`.

    stand_in.contacts.update(api_contacts(scenario.records))
    sender = CallbackSender(ingestor_url, WeComClient(token, aes_key, corp_id))
    feed(without_profiles(scenario.records), ingestor_url, api_token,
         contact_event_sender=sender)"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import orjson

from tools.simulator.feed import FeedError, callback_xml
from tools.wecom.api_standin import Contact, Follow
from tools.wecom.client import WeComClient


def api_contacts(records: Iterable[Mapping[str, Any]]) -> dict[str, Contact]:
    """The scenario's contacts as the WeCom API knows them: the profile and one follow per
    employee who added them (the first add's channel; WeCom keeps a deleted follow's details
    out of its answers, which the ingestor already handles, so keeping them here only spares
    the simulation a race between a quick delete and its add's enrichment)."""
    contacts: dict[str, Contact] = {}
    for r in records:
        if r.get("type") != "contact_profile":
            continue
        ext = str(r["external_userid"])
        contact = contacts.get(ext)
        if contact is None:
            contact = contacts[ext] = Contact(
                ext,
                type=int(r.get("contact_type") or 1),
                corp_name=str(r.get("corp_name") or ""),
                unionid=str(r.get("unionid") or ""),
            )
        employee = r.get("employee_id")
        if employee and all(f.userid != employee for f in contact.follows):
            contact.follows.append(
                Follow(
                    str(employee),
                    int(r.get("createtime") or 0),
                    add_way=int(r.get("add_way") or 0),
                    state=str(r.get("state") or ""),
                    oper_userid=str(r.get("oper_userid") or ""),
                )
            )
    return contacts


ENDED = frozenset({"del_external_contact", "del_follow_user"})


def settled(contacts: Mapping[str, Contact], records: Iterable[Mapping[str, Any]]) -> None:
    """Drop the follows the scenario's last event for them ended (a delete not followed by a
    new add), so that a reconciliation walking the stand-in after the feed finds what the
    callbacks said, not the relations a delete ended."""
    last: dict[tuple[str, str], str] = {}
    for r in records:
        if r.get("type") == "contact_event":
            last[(str(r["ExternalUserID"]), str(r["UserID"]))] = str(r.get("ChangeType", ""))
    for ext, contact in contacts.items():
        contact.follows = [f for f in contact.follows if last.get((ext, f.userid)) not in ENDED]


def put_contacts(standin_url: str, contacts: Mapping[str, Contact], client: httpx.Client) -> None:
    """Hand the contacts to a running stand-in (tools/wecom_standin.py), which then answers
    `externalcontact/get` and the reconciliation's walk with them."""
    docs = [c.doc() for c in contacts.values()]
    response = client.post(
        standin_url.rstrip("/") + "/standin/contacts", content=orjson.dumps({"contacts": docs})
    )
    if response.status_code != 200:
        raise FeedError(f"the WeCom stand-in refused the contacts: HTTP {response.status_code}")


def without_profiles(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records left for `/v1/events` when the ingestor enriches contacts itself."""
    return [r for r in records if r.get("type") != "contact_profile"]


class CallbackSender:
    """Posts each contact event as WeCom would; a refusal stops the feed with the reason.

    WeCom delivers callbacks concurrently; so does this sender with `workers` > 1: each
    employee's events go to one worker, in order, so an employee's add never overtakes their
    earlier delete; `close()` waits for all and raises the first refusal."""

    def __init__(
        self,
        base_url: str,
        wecom: WeComClient,
        client: httpx.Client | None = None,
        *,
        workers: int = 1,
        retries: int = 4,
    ) -> None:
        self.url = base_url.rstrip("/") + "/wecom/callback"
        self.wecom = wecom
        self.client = client if client is not None else httpx.Client(timeout=30.0)
        self._owned = client is None
        self.retries = retries
        self.sent = 0
        self._lock = threading.Lock()
        self._failure: FeedError | None = None
        self._queues: list[queue.SimpleQueue[dict[str, Any] | None]] = []
        self._threads: list[threading.Thread] = []
        if workers > 1:
            for _ in range(workers):
                q: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
                t = threading.Thread(target=self._work, args=(q,), daemon=True)
                self._queues.append(q)
                self._threads.append(t)
                t.start()

    def __call__(self, event: dict[str, Any]) -> None:
        if self._failure is not None:
            raise self._failure
        if not self._queues:
            self._post(event)
            return
        lane = zlib.crc32(str(event.get("UserID", "")).encode()) % len(self._queues)
        self._queues[lane].put(event)

    def _work(self, lane: queue.SimpleQueue[dict[str, Any] | None]) -> None:
        while (event := lane.get()) is not None:
            if self._failure is not None:
                continue  # drain: the feed stops at its next event
            try:
                self._post(event)
            except FeedError as exc:
                self._failure = exc

    def _post(self, event: dict[str, Any]) -> None:
        problem = "no attempt made"
        for _ in range(max(1, self.retries)):
            callback = self.wecom.callback(callback_xml(event))  # fresh timestamp and nonce
            try:
                response = self.client.post(
                    self.url,
                    params=callback.params,
                    content=callback.body,
                    headers={"content-type": "text/xml"},
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 200 and response.text == "success":
                with self._lock:
                    self.sent += 1
                return
            problem = f"HTTP {response.status_code} {response.text[:500]}"
            if response.status_code < 500:
                break
        raise FeedError(f"{self.url} refused a callback: {problem}")

    def close(self) -> None:
        """Wait until every queued callback is delivered; raise the first refusal."""
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join()
        self._queues, self._threads = [], []
        if self._owned:
            self.client.close()
        if self._failure is not None:
            raise self._failure
