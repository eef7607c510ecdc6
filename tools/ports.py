"""A free TCP port on localhost, for the stand-ins and the tests that start servers."""

from __future__ import annotations

import socket

_GIVEN: set[int] = set()
"""Ports this process handed out: the kernel may offer a port again once its probe socket is
closed, and a stack of services asks for several before any of them binds its own."""


def free_port() -> int:
    """A port free now and never handed out before by this process."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def listening(port: int) -> bool:
    """Whether something answers on this port of localhost already."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
