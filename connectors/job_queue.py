"""Analysis jobs onto Kafka: the REST layer's producer of ``AnalysisJob`` records.

A job goes to the topic of its priority (``Topics.jobs_for``) and the call returns once the
broker has it (idempotent producer, all in-sync replicas), so a 202 means the worker will
see the job.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.kafka_topics import MAX_MESSAGE_BYTES, KafkaUnavailableError, Topics
from schemas.codec import encode
from schemas.records import AnalysisJob

#: Longest wait for the broker to take a job before the request fails with 503.
ENQUEUE_TIMEOUT_S = 5.0


class JobQueue:
    """An open producer of analysis jobs; :meth:`start` it once, :meth:`stop` at the end.

    Parameters
    ----------
    bootstrap_servers : str
        The broker.
    namespace : str
        The settings' Kafka namespace (``Topics``).
    """

    def __init__(self, bootstrap_servers: str, namespace: str = "") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = Topics(namespace)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def enqueue(self, job: AnalysisJob) -> None:
        """Send ``job`` to its priority's topic and wait until the broker has it.

        Raises
        ------
        KafkaUnavailableError
            When the broker does not take it within :data:`ENQUEUE_TIMEOUT_S`.
        """
        payload = encode("AnalysisJob", dict(job))
        topic = self.topics.jobs_for(job.get("priority", "normal"))
        try:
            producer = await self._started()
            await asyncio.wait_for(
                producer.send_and_wait(topic, payload, key=job["job_id"].encode()),
                ENQUEUE_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError, OSError) as exc:
            await self._reset()
            raise KafkaUnavailableError(
                f"Kafka at {self.bootstrap_servers} did not take the job "
                f"({type(exc).__name__}: {exc}); try again shortly, or start the broker "
                "(`brrr stack up`)"
            ) from None

    async def stop(self) -> None:
        """Flush and close the producer."""
        await self._reset()

    async def _started(self) -> AIOKafkaProducer:
        # Started on first use, so the API starts while the broker is down.
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    enable_idempotence=True,
                    acks="all",
                    max_request_size=MAX_MESSAGE_BYTES,
                    request_timeout_ms=int(ENQUEUE_TIMEOUT_S * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), ENQUEUE_TIMEOUT_S)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _reset(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()
