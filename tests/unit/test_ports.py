"""The ports tests give their servers: never the same one twice in a test run (a stack asks
for all of its ports before any service binds, and the kernel may offer a closed probe's port
again: a service then failed to bind, and another one answered its readiness check)."""

from __future__ import annotations

import socket

from tools.ports import free_port, listening


def test_free_ports_are_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_something_listens_on_is_seen_as_taken() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert listening(port)
    assert not listening(port)
