"""`python -m bench.ingest`: WeCom callbacks through the ingestor (signature, decryption, XML
parse, normalisation, publish with `acks=all`, answer), against a reference loop measured in
the same run that does only the cryptography and the produce.

The load generator is open-loop: request i is due at t0 + i/rate whatever happened to the
previous ones, and its latency counts from when it was due (no coordinated omission). It runs
in this process, on the same two cores as the ingestor and Kafka; `max` is closed-loop with a
fixed number of requests in flight. Both use `--in-flight` persistent connections: an open-loop
request due while every connection is busy waits for one, and that wait counts."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop
from aiokafka import AIOKafkaProducer

from bench.common import (
    RESULTS,
    Run,
    Service,
    default_stack,
    dispatch_at_rate,
    fresh_run,
    percentile,
    quick,
    service,
    top_frames,
    write_result,
)
from services.ingestor.wecom.crypto import CallbackCrypto
from tests.infra import provide_infra
from tests.wecom_client import Callback, WeComClient, random_aes_key

CORP_ID = "wwbench0123456789"
TOKEN = "BenchToken012345"


def change_xml(n: int, seed: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{1_790_000_000 + n}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[m{n % 2000:06d}]]></UserID>"
        f"<ExternalUserID><![CDATA[wm{seed}{n:09d}]]></ExternalUserID>"
        "<State><![CDATA[branch-qr]]></State><WelcomeCode><![CDATA[W]]></WelcomeCode></xml>"
    )


def callbacks(wecom: WeComClient, count: int, seed: str) -> list[Callback]:
    """Signed now: the query timestamp must be inside the ingestor's replay window."""
    return [wecom.callback(change_xml(n, seed)) for n in range(count)]


PUBLISH_SERIES = (
    "ingestor_wecom_publish_duration_seconds_sum",
    "ingestor_wecom_publish_duration_seconds_count",
)


def publish_wait(before: dict[str, float], ingestor: Service) -> dict[str, float]:
    """The mean time the ingestor waited for Kafka's acknowledgement (or the spool) during a
    step, from its own histogram: the part of the latency that is Kafka's, not the service's."""
    after = ingestor.metrics(*PUBLISH_SERIES)
    total, count = (after[name] - before[name] for name in PUBLISH_SERIES)
    return {"publish_wait_mean_ms": round(total / count * 1000, 1) if count else 0.0}


def cpu_seconds(ingestor: Service) -> float:
    """CPU time (user + system) the ingestor process has used so far."""
    fields = Path(f"/proc/{ingestor.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_callback(before: float, ingestor: Service, callbacks: int) -> dict[str, float]:
    """The ingestor's CPU per answered callback during a step: unlike latency and throughput,
    barely moved by whatever else runs on the machine, so what compares two versions."""
    used = cpu_seconds(ingestor) - before
    return {"ingestor_cpu_us_per_callback": round(used / callbacks * 1e6) if callbacks else 0}


def summary(latencies: Sequence[float], ok: int, failed: int, seconds: float) -> dict[str, Any]:
    return {
        "requests": ok + failed,
        "ok": ok,
        "failed": failed,
        "seconds": round(seconds, 2),
        "per_second": round(ok / seconds) if seconds else 0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


class Connections:
    """The load generator's client: N persistent HTTP/1.1 connections and a minimal request
    writer and response reader. A general client (httpx) costs more CPU per request than the
    ingestor does and queues requests in O(n) structures: on two shared cores it would measure
    itself."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path
        self._size = size
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self._size):
            self._idle.put_nowait(await asyncio.open_connection(self._host, self._port))

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()

    async def post(self, cb: Callback, limit: float) -> bool:
        reader, writer = await self._idle.get()
        try:
            writer.write(
                f"POST {self._path}?{cb.query} HTTP/1.1\r\nHost: {self._host}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(cb.body)}\r\n\r\n".encode()
                + cb.body
            )
            status = await asyncio.wait_for(self._response(reader), limit)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            reader, writer = await asyncio.open_connection(self._host, self._port)
            self._idle.put_nowait((reader, writer))
            return False
        self._idle.put_nowait((reader, writer))
        return status == 200

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        return status


async def open_loop(client: Connections, load: Sequence[Callback], rate: float) -> dict[str, Any]:
    """Request i is sent at its due time; whatever has not been answered 10 s after the last
    one was due counts as failed (so an overloaded step ends, inside the replay window).

    One dispatcher starts each request when it is due (never thousands of sleeping tasks at
    once, whose creation alone made the first requests late); requests it finds overdue go
    out at once. How late the dispatcher itself was is reported (`generator_lag_*`): if it is
    a sizeable part of the latency, the generator, not the ingestor, is what was measured."""
    latencies: list[float] = []
    failed = 0
    started = time.perf_counter()
    deadline = started + len(load) / rate + 10

    async def one(due: float, cb: Callback) -> None:
        nonlocal failed
        if await client.post(cb, max(0.01, deadline - time.perf_counter())):
            latencies.append(time.perf_counter() - due)
        else:
            failed += 1

    lags = await dispatch_at_rate(load, rate, one, started)
    return {
        "offered_per_second": rate,
        **summary(latencies, len(latencies), failed, time.perf_counter() - started),
        "generator_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "generator_lag_max_ms": round(max(lags, default=0.0) * 1000, 1),
    }


async def closed_loop(
    client: Connections, load: Sequence[Callback], in_flight: int, seconds: float
) -> dict[str, Any]:
    """`in_flight` requests at all times, for `seconds` (or until `load` runs out)."""
    latencies: list[float] = []
    failed = 0
    queue = iter(load)
    started = time.perf_counter()
    stop = started + seconds

    async def worker() -> None:
        nonlocal failed
        for cb in queue:
            sent = time.perf_counter()
            if sent > stop:
                return
            if await client.post(cb, 10):
                latencies.append(time.perf_counter() - sent)
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return {
        "in_flight": in_flight,
        **summary(latencies, len(latencies), failed, time.perf_counter() - started),
    }


async def reference(
    run: Run, crypto: CallbackCrypto, load: Sequence[Callback], in_flight: int, seconds: float
) -> dict[str, Any]:
    """Signature check, decryption and an `acks=all` idempotent produce per callback, nothing
    else: no HTTP, no XML, no normalisation, no spool."""
    producer = AIOKafkaProducer(
        bootstrap_servers=run.infra.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )
    await producer.start()
    topic = run.topics["TOPIC_CONTACT_EVENTS"] + ".reference"
    latencies: list[float] = []
    queue = iter(load)
    started = time.perf_counter()

    stop = started + seconds

    async def worker() -> None:
        for cb in queue:
            sent = time.perf_counter()
            if sent > stop:
                return
            crypto.verify_signature(
                cb.params["msg_signature"], cb.params["timestamp"], cb.params["nonce"], cb.encrypt
            )
            plain = crypto.decrypt(cb.encrypt)
            await producer.send_and_wait(topic, plain, key=b"k")
            latencies.append(time.perf_counter() - sent)

    try:
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    finally:
        await producer.stop()
    return {
        "in_flight": in_flight,
        **summary(latencies, len(latencies), 0, time.perf_counter() - started),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    aes_key = random_aes_key()
    wecom = WeComClient(TOKEN, aes_key, CORP_ID)
    crypto = CallbackCrypto(TOKEN, aes_key, CORP_ID)
    steps: list[dict[str, Any]] = []
    with provide_infra() as infra:
        async with fresh_run(infra, "ingest") as bench_run:
            env = bench_run.env(
                WECOM_CORP_ID=CORP_ID,
                WECOM_CALLBACK_TOKEN=TOKEN,
                WECOM_CALLBACK_AES_KEY=aes_key,
                SPOOL_DIR=str(RESULTS / "logs" / f"{bench_run.suffix}-spool"),
                INGEST_API_TOKENS="bench-token-0123456789abcdef",
            )
            log = RESULTS / "logs" / f"{bench_run.suffix}-ingestor.log"
            profile = RESULTS / "profile-ingest.txt" if args.profile else None
            with service("ingestor", env, log, profile) as ingestor:
                client = Connections(f"{ingestor.url}/wecom/callback", args.in_flight)
                await client.open()
                try:
                    await closed_loop(client, callbacks(wecom, 200, "w"), 8, 10)
                    for rate in args.rates:
                        load = callbacks(wecom, int(rate * args.seconds), f"r{rate}")
                        before, cpu = ingestor.metrics(*PUBLISH_SERIES), cpu_seconds(ingestor)
                        step = await open_loop(client, load, rate)
                        steps.append(
                            {
                                **step,
                                **cpu_per_callback(cpu, ingestor, step["ok"]),
                                **publish_wait(before, ingestor),
                            }
                        )
                    load = callbacks(wecom, args.max_requests, "max")
                    cpu = cpu_seconds(ingestor)
                    top = await closed_loop(client, load, args.in_flight, args.seconds)
                    top.update(cpu_per_callback(cpu, ingestor, top["ok"]))
                finally:
                    await client.close()
                rss = ingestor.rss_mb()
            ref = await reference(
                bench_run,
                crypto,
                callbacks(wecom, args.max_requests, "ref"),
                args.in_flight,
                args.seconds,
            )
    at_1000 = next((s for s in steps if s["offered_per_second"] == 1000), None)
    return {
        "open_loop": steps,
        "max": top,
        "reference_crypto_produce": ref,
        "ratio_max_to_reference": round(top["per_second"] / ref["per_second"], 3),
        "ingestor_rss_mb": rss,
        "profile_top": top_frames(profile) if profile else [],
        "targets": {"max_per_second": 2000, "p99_ms_at_1000": 50},
        "p99_ms_at_1000": at_1000["p99_ms"] if at_1000 else None,
        "generator": "own process (uvloop), one dispatcher, persistent HTTP/1.1 connections, "
        "latency from the due time",
        "cpus": os.cpu_count(),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rates", type=float, nargs="*", default=[500, 1000, 2000])
    p.add_argument("--seconds", type=float, default=5 if quick() else 20)
    p.add_argument("--max-requests", type=int, default=10_000 if quick() else 40_000)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--profile", action="store_true", help="py-spy the ingestor")
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = uvloop.run(run(args))  # the generator's own loop costs less CPU on shared cores
    write_result("ingest", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
