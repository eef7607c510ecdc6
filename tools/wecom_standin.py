"""`python -m tools.wecom_standin`: the local stack's WeCom and mail server, which `make up`
runs (deploy/local/standin.sh) in place of qyapi.weixin.qq.com and the bank's SMTP relay.

One HTTP port serves what the services call on WeCom: the REST API the ingestor looks contacts
up in and reconciles against (tools/wecom/api_standin.py: gettoken, externalcontact/get,
batch/get_by_user, get_follow_user_list) and the group robots and app messages the notifier
sends (tools/wecom/robot_standin.py, any robot key accepted). Its contacts are what the
simulator puts there (`POST /standin/contacts`, tools/simulator/callbacks.py), kept in
`<dir>/contacts.json` across restarts. An SMTP port (tools/mail_standin.py) takes the e-mail.
Every robot message, app message and e-mail lands in `<dir>/inbox.jsonl`, which `make inbox`
prints (tools/inbox.py).

    python -m tools.wecom_standin --port 8083 --smtp-port 8025 --dir .run/wecom
    (corp id and secret: WECOM_CORP_ID, WECOM_CORP_SECRET)"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.clock import Clock, system_clock
from tools.wecom.api_standin import Contact, WeComApiStandIn, build_app
from tools.wecom.robot_standin import WeComStandIn

INBOX = "inbox.jsonl"
CONTACTS = "contacts.json"


class Inbox:
    """Appends each message received to `<dir>/inbox.jsonl`, one JSON object a line."""

    def __init__(self, path: Path, clock: Clock = system_clock) -> None:
        self.path = path
        self.clock = clock

    def add(self, channel: str, to: list[str], subject: str, text: str) -> None:
        at = self.clock().timestamp()
        line = {"at": at, "channel": channel, "to": to, "subject": subject, "text": text}
        with self.path.open("ab") as out:
            out.write(orjson.dumps(line) + b"\n")

    def robot_or_app(self, channel: str, message: dict[str, Any]) -> None:
        if channel == "robot":
            self.add("robot", [str(message["key"])], "", str(message["content"]))
            return
        kind = str(message.get("msgtype", "text"))
        body = message.get(kind) or {}
        text = body.get("content") or body.get("description") or orjson.dumps(body).decode()
        self.add("app", str(message.get("touser", "")).split("|"), str(body.get("title", "")), text)

    def mail(self, recipients: list[str], message: Message) -> None:
        subject = str(make_header(decode_header(str(message.get("Subject", "")))))
        self.add("email", recipients, subject, plain_text(message))


def plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


class ContactStore:
    """The stand-in's contacts on disk, so a restart answers as before."""

    def __init__(self, api: WeComApiStandIn, path: Path) -> None:
        self.api, self.path = api, path
        if path.exists():
            for doc in orjson.loads(path.read_bytes()):
                api.add(Contact.from_doc(doc))

    async def put(self, request: Request) -> Response:
        """`{"contacts": [...], "replace": false}`: add (or with replace, set) contacts."""
        body = orjson.loads(await request.body())
        if body.get("replace"):
            self.api.contacts.clear()
        for doc in body.get("contacts", []):
            self.api.add(Contact.from_doc(doc))
        docs = [c.doc() for c in self.api.contacts.values()]
        self.path.write_bytes(orjson.dumps(docs))
        return Response(orjson.dumps({"contacts": len(docs)}), media_type="application/json")


def build(api: WeComApiStandIn, robots: WeComStandIn, store: ContactStore) -> Starlette:
    robot_app = robots.app()
    send = next(r for r in robot_app.routes if getattr(r, "path", "") == "/cgi-bin/message/send")
    webhook = next(r for r in robot_app.routes if getattr(r, "path", "") == "/cgi-bin/webhook/send")

    async def message_send(request: Request) -> Response:
        robots.accept_tokens({t for t, valid in api.tokens.items() if valid})
        answer: Response = await send.endpoint(request)  # type: ignore[attr-defined]
        return answer

    return Starlette(
        routes=[
            *build_app(api).routes,
            webhook,
            Route("/cgi-bin/message/send", message_send, methods=["POST"]),
            Route("/standin/contacts", store.put, methods=["POST"]),
            Route("/healthz", _healthy, methods=["GET"]),
        ]
    )


async def _healthy(_: Request) -> Response:
    """For compose's healthcheck: the stand-in answers."""
    return Response(b"ok\n", media_type="text/plain")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.wecom_standin", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container")
    p.add_argument(
        "--smtp-port", type=int, default=0, help="0: no SMTP (needs aiosmtpd, a dev dependency)"
    )
    p.add_argument("--dir", type=Path, required=True, help="contacts and inbox")
    return p


async def serve(args: argparse.Namespace, corp_id: str, corp_secret: str) -> None:
    args.dir.mkdir(parents=True, exist_ok=True)
    inbox = Inbox(args.dir / INBOX)
    api = WeComApiStandIn(port=args.port, corp_id=corp_id, corp_secret=corp_secret)
    robots = WeComStandIn(
        port=args.port,
        any_key=True,
        corp_id=corp_id,
        corp_secret=corp_secret,
        listener=inbox.robot_or_app,
    )
    app = build(api, robots, ContactStore(api, args.dir / CONTACTS))
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    if not args.smtp_port:
        await uvicorn.Server(config).serve()
        return
    from tools.mail_standin import smtp_standin  # aiosmtpd: installed with the dev extras

    with smtp_standin(args.smtp_port, listener=inbox.mail, hostname=args.host):
        await uvicorn.Server(config).serve()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    corp_id, corp_secret = os.environ.get("WECOM_CORP_ID"), os.environ.get("WECOM_CORP_SECRET")
    if not corp_id or not corp_secret:
        print("error: set WECOM_CORP_ID and WECOM_CORP_SECRET", file=sys.stderr)
        return 2
    asyncio.run(serve(args, corp_id, corp_secret))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
