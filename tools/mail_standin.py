"""A real SMTP server on localhost (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tools.ports import free_port


@dataclass
class SmtpStandIn:
    port: int
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    listener: Callable[[list[str], Message], None] | None = None  # told of each message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        if self.listener is not None:
            self.listener(self.recipients[-1], self.messages[-1])
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"got {len(self.messages)} mails, expected {count}")
            await asyncio.sleep(0.1)
        return self.messages


@contextmanager
def smtp_standin(
    port: int = 0,
    listener: Callable[[list[str], Message], None] | None = None,
    hostname: str = "127.0.0.1",
) -> Iterator[SmtpStandIn]:
    standin = SmtpStandIn(port=port or free_port(), listener=listener)
    controller = Controller(standin, hostname=hostname, port=standin.port)
    controller.start()
    try:
        yield standin
    finally:
        controller.stop()
