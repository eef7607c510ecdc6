"""When a request that failed on a pooled connection may go again at once (Go's net/http rule)."""

from __future__ import annotations

import pytest

from services.notifier.domain.resend import Exchange, resend_at_once


def exchange(*events: str) -> Exchange:
    seen = Exchange()
    for event in events:
        seen.observe(event)
    return seen


WRITTEN = ("http11.send_request_headers.complete", "http11.send_request_body.complete")


@pytest.mark.parametrize("replayable", [True, False])
def test_a_request_not_completely_written_may_always_go_again(replayable: bool) -> None:
    partly = exchange("http11.send_request_headers.failed")
    assert resend_at_once(partly, replayable=replayable)


def test_a_written_request_goes_again_only_when_replayable() -> None:
    written = exchange(*WRITTEN, "http11.receive_response_headers.failed")
    assert resend_at_once(written, replayable=True)
    assert not resend_at_once(written, replayable=False)


@pytest.mark.parametrize("replayable", [True, False])
def test_a_new_connection_or_a_begun_response_never_goes_again_at_once(replayable: bool) -> None:
    new = exchange("connection.connect_tcp.started", "http11.send_request_headers.failed")
    answered = exchange(*WRITTEN, "http11.receive_response_headers.complete")
    assert not resend_at_once(new, replayable=replayable)
    assert not resend_at_once(answered, replayable=replayable)
