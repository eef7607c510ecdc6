"""When a failed HTTP delivery may be sent again at once, on a fresh connection, instead of
waiting for the outbox's backoff.

A receiver closes an idle keep-alive connection when its idle timeout ends (uvicorn: 5 s,
nginx: 75 s). If our pooled client picks that connection in the same instant, the request
fails with a read error or "server disconnected" although the receiver never saw it. Net/http
in Go handles this case with a rule we follow (`shouldRetryRequest` in `transport.go`):

- only a *reused* connection qualifies (on a new one the failure is the receiver's own);
- nothing qualifies once a response has begun (the receiver has answered: it acted);
- a request not completely written cannot have been acted upon: always safe to repeat;
- a completely written request is repeated only when it is *replayable*: it carries an
  `Idempotency-Key` the receiver uses to drop a duplicate (our generic webhook does; WeCom's
  robot webhook has no such key, so a robot message in that case waits for the backoff and
  is then sent again, as before: at least once, never silently dropped)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Exchange:
    """What happened on the wire during one request (filled from httpcore's trace events)."""

    new_connection: bool = False
    request_written: bool = False
    response_started: bool = False

    def observe(self, event: str) -> None:
        if event == "connection.connect_tcp.started":
            self.new_connection = True
        elif event == "http11.send_request_body.complete":
            self.request_written = True
        elif event == "http11.receive_response_headers.complete":
            self.response_started = True


def resend_at_once(exchange: Exchange, *, replayable: bool) -> bool:
    """Whether a request that failed on the transport may go again now on a new connection."""
    if exchange.new_connection or exchange.response_started:
        return False
    if not exchange.request_written:
        return True
    return replayable
