"""The result sink: consumes the stream's outputs into PostgreSQL.

It reads ``eeg.results`` (a job's final result: completes the job), ``eeg.detections``,
``eeg.window_results`` (one row per window), ``eeg.progress`` (a job's progress) and
``eeg.deadletter`` (messages an agent refused, kept in ``dead_letters``) and
``eeg.alerts.urgent`` (urgent alerts of live recordings, kept in ``alerts``).

At-least-once delivery made effectively-once: a batch of messages is written in one database
transaction (each message in its own savepoint), and the Kafka offsets are committed only
after that transaction has committed. A crash between the two replays the batch, and the
idempotent upserts of :mod:`connectors.db.sink` make the replay change nothing.

A message that can never be written (undecodable, or refused by a constraint) goes to the
``dead_letters`` table with the reason and its offset is committed with the rest: a poison
message does not block its partition. A transient failure (the database restarting) rolls
the batch back, rewinds the consumer to the batch's first offsets and retries after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from psycopg import AsyncConnection

from connectors.db import DatabaseUnavailableError, unavailable
from connectors.db.migrate import maintain_partitions, migrate
from connectors.db.sink import SinkMessage, write_message
from connectors.kafka_topics import PIPELINE_TOPICS, KafkaUnavailableError, Topics, ensure_topics
from connectors.settings import Settings

log = logging.getLogger(__name__)

#: Topics the sink consumes (without a namespace); created by kafka_topics.ensure_topics.
RESULTS_TOPIC = "eeg.results"
DETECTIONS_TOPIC = "eeg.detections"
SINK_TOPICS = (
    RESULTS_TOPIC,
    DETECTIONS_TOPIC,
    "eeg.window_results",
    "eeg.progress",
    "eeg.deadletter",
    "eeg.alerts.urgent",
)
SINK_GROUP_ID = "brrr-sink"


class SinkUnavailableError(Exception):
    """Kafka does not answer where the sink looks for it."""

    code = "kafka_unavailable"


@dataclass
class BatchReport:
    """What one poll of the sink did."""

    messages: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class ResultSink:
    """A Kafka consumer writing results and detections to PostgreSQL.

    Parameters
    ----------
    settings : Settings
        Kafka bootstrap servers and PostgreSQL URL.
    topics : tuple of str | None
        Topics to consume; None: :data:`SINK_TOPICS` in the settings' namespace.
    group_id : str | None
        Consumer group; sinks of one group share the partitions. None: ``brrr-sink`` in
        the settings' namespace.
    max_records : int
        Most messages written per transaction.
    """

    def __init__(
        self,
        settings: Settings,
        topics: tuple[str, ...] | None = None,
        group_id: str | None = None,
        max_records: int = 500,
    ) -> None:
        namespace = Topics(settings.kafka_namespace)
        self.settings = settings
        self.topics = topics or tuple(namespace.name(t) for t in SINK_TOPICS)
        self.group_id = group_id or namespace.group(SINK_GROUP_ID)
        self.max_records = max_records
        self.totals: Counter[str] = Counter()
        self._consumer: AIOKafkaConsumer | None = None
        self._conn: AsyncConnection | None = None

    async def start(self) -> None:
        """Apply the migrations, connect to PostgreSQL and join the consumer group."""
        await asyncio.to_thread(migrate, self.settings.postgres_url)
        self._conn = await self._connect()
        try:
            # A consumer subscribing first would have the broker auto-create one-partition
            # topics: create them as the pipeline wants them (existing topics are left alone).
            await asyncio.to_thread(
                ensure_topics,
                self.settings.kafka_bootstrap_servers,
                {
                    topic: _partitions_of(topic, self.settings.kafka_namespace)
                    for topic in self.topics
                },
            )
            self._consumer = AIOKafkaConsumer(
                *self.topics,
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            await self._consumer.start()
        except BaseException as exc:
            # Whatever stopped the start (Kafka down, a refused topic, a cancellation...),
            # the PostgreSQL connection opened above is closed with the consumer.
            await self.stop()
            if isinstance(exc, KafkaUnavailableError):
                raise SinkUnavailableError(str(exc)) from None
            if isinstance(exc, KafkaConnectionError):
                raise SinkUnavailableError(
                    f"Kafka at {self.settings.kafka_bootstrap_servers} does not answer ({exc}); "
                    "start the local stack with `brrr stack up` or set "
                    "BRRR_KAFKA_BOOTSTRAP_SERVERS"
                ) from None
            raise

    async def stop(self) -> None:
        """Leave the group and close the connection (offsets already committed stay)."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> ResultSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll_once(self, timeout_ms: int = 1000) -> BatchReport:
        """Fetch one batch, write it in one transaction, then commit its offsets.

        Raises
        ------
        psycopg.OperationalError
            When the database failed mid-batch: nothing was committed, and the consumer
            was rewound to the batch's first offsets, so the next poll retries it.
        """
        consumer, conn = self._require()
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        report = BatchReport()
        if not batch:
            return report
        try:
            async with conn.transaction():
                for tp, messages in batch.items():
                    for m in messages:
                        message = SinkMessage(m.topic, m.partition, m.offset, m.key, m.value)
                        outcome = await write_message(conn, message)
                        report.outcomes[outcome] += 1
                        if outcome == "dead_letter":
                            log.warning("dead letter: %s[%d]@%d", m.topic, m.partition, m.offset)
                    report.committed[tp] = messages[-1].offset + 1
                    report.messages += len(messages)
        except psycopg.Error:
            for tp, messages in batch.items():
                consumer.seek(tp, messages[0].offset)
            if conn.broken or conn.closed:
                # run() reconnects; release the dead one's socket now, not at GC.
                self._conn = None
                await conn.close()
            raise
        # Only now that the rows are durable do we tell Kafka we are done with them.
        await consumer.commit(report.committed)
        self.totals.update(report.outcomes)
        return report

    async def run(
        self,
        stop: asyncio.Event,
        retry_pause_s: float = 2.0,
        maintenance_interval_s: float = 3600.0,
    ) -> None:
        """Poll until ``stop`` is set, retrying batches after transient database errors,
        and creating the coming days' partitions every ``maintenance_interval_s``."""
        loop = asyncio.get_running_loop()
        next_maintenance = loop.time() + maintenance_interval_s
        while not stop.is_set():
            try:
                if self._conn is None:
                    self._conn = await self._connect()
                await self.poll_once()
                if loop.time() >= next_maintenance:
                    await asyncio.to_thread(maintain_partitions, self.settings.postgres_url)
                    next_maintenance = loop.time() + maintenance_interval_s
            except (psycopg.OperationalError, DatabaseUnavailableError) as exc:
                log.warning("sink: database error, retrying in %.1f s: %s", retry_pause_s, exc)
                await asyncio.sleep(retry_pause_s)

    async def _connect(self) -> AsyncConnection:
        try:
            return await AsyncConnection.connect(
                self.settings.postgres_url, autocommit=True, connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            raise unavailable(self.settings.postgres_url, exc) from None

    def _require(self) -> tuple[AIOKafkaConsumer, AsyncConnection]:
        if self._consumer is None or self._conn is None:
            raise RuntimeError("ResultSink.start() first (or use `async with ResultSink(...)`)")
        return self._consumer, self._conn


def _partitions_of(topic: str, namespace: str) -> int:
    """Partitions of a pipeline topic given by its full (namespaced) name; 1 for others."""
    base = topic.removeprefix(f"{namespace}.") if namespace else topic
    return PIPELINE_TOPICS.get(base, 1)
