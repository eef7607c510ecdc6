"""Dead letters after a fix: list them, or send them back to the topic they came from.

Every consumer sends a record it cannot apply to `<topic>.dlq` with the error, the source topic,
partition and offset, and the record itself. Once the cause is mended (a constraint relaxed, a
bug fixed, a record corrected upstream), `replay` publishes each dead letter's record again to
its source topic, with its key, and remembers how far it got (a consumer group on the
dead-letter topic): run twice, it replays nothing twice. Replaying is safe in any case: records
are idempotent by `event_id`, so one applied meanwhile changes nothing.

    python -m shared.dead_letters list   --topic wecom.contact-events.v1.dlq
    python -m shared.dead_letters replay --topic wecom.contact-events.v1.dlq [--dry-run]

KAFKA_BOOTSTRAP_SERVERS names the brokers (default localhost:9092)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPLAY_GROUP = "dead-letter-replay"


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    source_topic: str
    source_offset: int | None
    error: str
    value: bytes | None


def parse_dead_letter(offset: int, key: bytes | None, raw: bytes | None) -> DeadLetter:
    """One dead-letter record as the consumers write it; a record that is not one is reported
    with what it holds and never replayed (it names no source topic)."""
    try:
        body: Any = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("topic"), str):
        return DeadLetter(offset, key, "", None, "not a dead-letter record", raw)
    value = body.get("value")
    return DeadLetter(
        offset=offset,
        key=key,
        source_topic=body["topic"],
        source_offset=body.get("offset"),
        error=str(body.get("error", "")),
        value=value.encode("utf-8") if isinstance(value, str) else None,
    )


Remember = Callable[[], Awaitable[None]]


async def _read(
    bootstrap: str, topic: str, group: str | None
) -> AsyncIterator[tuple[Remember, DeadLetter]]:
    """Every dead letter from the group's position (or the start) to the end as it is now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            raise SystemExit(f"error: no topic {topic!r} on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(await _partitions(bootstrap, topic))]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=500)
                for record in batch.get(tp, []):
                    letter = parse_dead_letter(record.offset, record.key, record.value)
                    yield _remember(consumer, tp, record.offset + 1, group), letter
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topic: str) -> set[int]:
    """The topic's partitions (a producer waits for the topic's metadata; a consumer that
    only assigns partitions does not load it)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


def _remember(
    consumer: AIOKafkaConsumer, tp: TopicPartition, next_offset: int, group: str | None
) -> Remember:
    async def commit() -> None:
        if group is not None:
            await consumer.commit({tp: next_offset})

    return commit


async def list_letters(bootstrap: str, topic: str) -> int:
    count = 0
    async for _, letter in _read(bootstrap, topic, None):
        count += 1
        source = f"{letter.source_topic}@{letter.source_offset}" if letter.source_topic else "?"
        print(f"{letter.offset}\t{source}\t{letter.error}")
    print(f"{count} dead letters on {topic}", file=sys.stderr)
    return 0


async def replay(bootstrap: str, topic: str, group: str, dry_run: bool) -> int:
    """Replay (or count, in a dry run) the dead letters not replayed yet; the number."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    replayed = skipped = 0
    try:
        async for remember, letter in _read(bootstrap, topic, None if dry_run else group):
            if not letter.source_topic or letter.value is None:
                skipped += 1
                print(f"skipped {letter.offset}: {letter.error}", file=sys.stderr)
            else:
                if not dry_run:
                    await (await producer.send(letter.source_topic, letter.value, key=letter.key))
                replayed += 1
            await remember()  # only once sent (acks=all); nothing in a dry run
    finally:
        await producer.stop()
    verb = "would replay" if dry_run else "replayed"
    print(f"{verb} {replayed} dead letters from {topic}; {skipped} skipped", file=sys.stderr)
    return replayed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dead_letters", description=__doc__)
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--topic", required=True, help="the dead-letter topic (<topic>.dlq)")
    parser.add_argument("--group", default=REPLAY_GROUP, help="remembers what was replayed")
    parser.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    args = parser.parse_args(argv)
    if not args.topic.endswith(".dlq"):
        parser.error("--topic must be a dead-letter topic (ending in .dlq)")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    if args.action == "list":
        return asyncio.run(list_letters(bootstrap, args.topic))
    asyncio.run(replay(bootstrap, args.topic, args.group, args.dry_run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
