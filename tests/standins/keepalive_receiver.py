"""A real HTTP/1.1 receiver on localhost (plain asyncio sockets, so connections are under the
test's control) that keeps connections alive and, when told, closes a *reused* connection the
moment the next request arrives on it, without reading or answering it: what a receiver whose
keep-alive idle timeout ends just as we reuse the connection does. It answers the robot's JSON
(`{"errcode": 0}`) to every request it does read."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson

from tests.standins.webhook_sink import free_port


@dataclass
class Received:
    connection: int
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class KeepAliveReceiver:
    port: int
    drop_reused: int = 0  # close this many reused connections on their next request
    received: list[Received] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # connection numbers closed unread
    connections: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        served = 0
        try:
            while True:
                first = await reader.read(1)  # wait for the next request without reading it
                if not first:
                    return
                if served and self.drop_reused > 0:
                    self.drop_reused -= 1
                    self.dropped.append(number)
                    # close with RST (linger 0), the request unread: it never reached us
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                head = first + await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append(Received(number, path, headers, body))
                served += 1
                answer = orjson.dumps({"errcode": 0, "errmsg": "ok"})
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def keepalive_receiver(drop_reused: int = 0) -> AsyncIterator[KeepAliveReceiver]:
    receiver = KeepAliveReceiver(port=free_port(), drop_reused=drop_reused)
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", receiver.port)
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()
