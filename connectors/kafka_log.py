"""Reading a stretch of a topic partition back, from a stored offset.

The segments topic is itself a log of every recording's samples: the worker keeps only
where a recording starts (partition, offset) and reads its samples back when the
recording-level stages need the whole signal, instead of holding it in a table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from connectors.kafka_topics import MAX_MESSAGE_BYTES, KafkaUnavailableError
from schemas.codec import CodecError, decode


@dataclass(frozen=True)
class LoggedMessage:
    """One message read back."""

    offset: int
    key: bytes | None
    value: bytes | None


async def read_partition(
    bootstrap_servers: str,
    topic: str,
    partition: int,
    first_offset: int,
    *,
    stop_after: Callable[[LoggedMessage], bool] | None = None,
    timeout_s: float = 60.0,
) -> AsyncIterator[LoggedMessage]:
    """The messages of one partition from ``first_offset`` to the end it has now.

    Parameters
    ----------
    bootstrap_servers, topic, partition : str, str, int
        Where to read.
    first_offset : int
        First offset to read.
    stop_after : callable | None
        Called with each message; reading stops after the first for which it is true.
    timeout_s : float
        Longest wait for the broker between two fetches.

    Raises
    ------
    KafkaUnavailableError
        When the broker does not answer, or the offset is no longer in the log (retention
        removed it).
    """
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
    )
    try:
        await consumer.start()
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = (await consumer.beginning_offsets([tp]))[tp]
        if first_offset < start:
            raise KafkaUnavailableError(
                f"{topic}[{partition}] starts at offset {start} now, after {first_offset}: "
                "the recording aged out of the log (raise the topic's retention.ms)"
            )
        consumer.seek(tp, first_offset)
        position = first_offset
        while position < end:
            batch = await consumer.getmany(tp, timeout_ms=round(timeout_s * 1000))
            if not batch:
                raise KafkaUnavailableError(
                    f"no data from {topic}[{partition}] at offset {position} within "
                    f"{timeout_s:g} s (log end {end}): is the broker at {bootstrap_servers} up?"
                )
            for record in batch.get(tp, []):
                position = record.offset + 1
                if record.offset >= end:
                    return
                message = LoggedMessage(record.offset, record.key, record.value)
                yield message
                if stop_after is not None and stop_after(message):
                    return
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"reading {topic}[{partition}] back from offset {first_offset} failed: {exc}"
        ) from None
    finally:
        await consumer.stop()


async def read_records(
    bootstrap_servers: str,
    topic: str,
    partition: int,
    first_offset: int,
    schema_name: str,
    *,
    stop_after: Callable[[], bool] | None = None,
    last_offset: int | None = None,
    timeout_s: float = 60.0,
) -> AsyncIterator[dict[str, Any]]:
    """The decoded ``schema_name`` records of one partition from ``first_offset`` on (to
    ``last_offset`` included, when given), as :func:`read_partition` reads them; a message
    that does not decode is skipped (the agent that read it first sent it to the dead
    letters). ``stop_after()`` is asked after each record the caller has taken."""

    def stop(message: LoggedMessage) -> bool:
        if last_offset is not None and message.offset >= last_offset:
            return True
        return stop_after is not None and stop_after()

    async for message in read_partition(
        bootstrap_servers, topic, partition, first_offset, stop_after=stop, timeout_s=timeout_s
    ):
        try:
            record = decode(schema_name, message.value)
        except CodecError:
            continue
        yield record
