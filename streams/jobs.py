"""The source of recordings that have an end: an analysis job becomes segments.

For each ``AnalysisJob`` the worker reads the raw file from the object store, checks it with
the project's reader, and feeds it segment by segment into ``eeg.segments``, the path every
live device uses too. It then waits until the job is completed or failed (the result sink
writes that), so the job's offset is committed only once its work is done: a worker killed
mid-job leaves the job to be picked up again, by itself after a restart or by the worker
that takes over its partitions, and that counts a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from connectors.db import redact_url
from connectors.db.jobs import (
    JobAttempt,
    JobState,
    begin_attempt,
    create_job,
    fail_job,
    job_state,
)
from connectors.object_store import (
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
)
from connectors.settings import Settings
from processors.errors import EEGError
from processors.io import read_recording
from processors.types import Recording
from schemas.records import AnalysisJob, EEGSegment, JobPriority
from streams.segments import JobContext, segment_file

log = logging.getLogger("brrr.worker.jobs")

SendSegment = Callable[[EEGSegment], Awaitable[None]]
T = TypeVar("T")

#: Pause between two tries when PostgreSQL or the S3 server does not answer.
RETRY_PAUSE_S = 2.0
#: How often the end of a fed job is checked.
POLL_S = 0.5


def replay_speed(job: AnalysisJob) -> float | None:
    """Times real time the job's segments are fed at; None: as fast as possible."""
    speed = (job.get("options") or {}).get("speed", "max")
    if speed in ("max", "", None):
        return None
    value = float(speed)
    if value <= 0:
        raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
    return value


#: Job priorities, most urgent first (the order in which waiting jobs get a free slot).
PRIORITY_ORDER: tuple[JobPriority, ...] = ("high", "normal", "low")


class PrioritySlots:
    """At most ``n`` jobs at once; a freed slot goes to the most urgent job waiting.

    The worker consumes one topic per priority (``Topics.jobs_for``), each agent with as many
    jobs in flight as there are slots, so a high-priority job waits behind running jobs only,
    never behind queued low-priority ones.
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"a worker runs at least one job at once, got {n}")
        self.free = n
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = 0

    @contextlib.asynccontextmanager
    async def slot(self, priority: JobPriority) -> AsyncIterator[None]:
        """Hold a slot while the block runs."""
        await self._acquire(PRIORITY_ORDER.index(priority))
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, rank: int) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        self._arrivals += 1
        ticket = (rank, self._arrivals, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting, ticket)
        try:
            await ticket[2]
        except asyncio.CancelledError:
            if ticket[2].done() and not ticket[2].cancelled():
                self._release()  # granted as it was cancelled: pass the slot on
            else:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
            raise

    def _release(self) -> None:
        while self._waiting:
            _rank, _arrival, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


class JobFeeder:
    """Feeds analysis jobs into the stream and follows them to their end.

    Parameters
    ----------
    settings : Settings
        Retries, stall timeout, segment length, S3 and PostgreSQL.
    pool : AsyncConnectionPool
        PostgreSQL connections (autocommit).
    store : ObjectStore
        Where the raw files are.
    send_segment : callable
        Publishes one segment (keyed by its recording) and waits for the broker.

    At most ``settings.worker_job_concurrency`` jobs run at once, the most urgent first
    (:class:`PrioritySlots`).
    """

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        store: ObjectStore,
        send_segment: SendSegment,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store
        self.send_segment = send_segment
        self.slots = PrioritySlots(settings.worker_job_concurrency)
        self._running: set[str] = set()

    async def run(self, job: AnalysisJob) -> None:
        """Feed one job until it is completed or failed, retrying interrupted attempts.

        A job this worker is already feeding (its message delivered again after a
        rebalance) is left to the feed in progress.
        """
        if job["job_id"] in self._running:
            log.info("job %s: already being fed by this worker", job["job_id"])
            return
        self._running.add(job["job_id"])
        try:
            async with self.slots.slot(job["priority"]):
                await self._run(job)
        finally:
            self._running.discard(job["job_id"])

    async def _run(self, job: AnalysisJob) -> None:
        job_id = job["job_id"]
        reason: str | None = None
        while True:
            attempt = await self._begin(job, reason)
            if attempt.action == "finished":
                log.info("job %s: already %s, nothing to do", job_id, attempt.state.status)
                return
            if attempt.action == "gave_up":
                log.error("job %s: failed: %s", job_id, attempt.state.error)
                return
            log.info(
                "job %s: start (attempt %d, %s, %s)",
                job_id,
                attempt.attempt,
                job["analysis_type"],
                PurePosixPath(job["object_key"]).name,
            )
            recording = await self._read(job)
            if recording is None:
                return
            context = JobContext(job_id, attempt.attempt, job["analysis_type"])
            t0 = time.monotonic()
            await self._feed(recording, context, replay_speed(job))
            log.info(
                "job %s: %.0f s of %d-channel EEG fed in %.1f s; waiting for its result",
                job_id,
                recording.duration_s,
                len(recording.ch_names),
                time.monotonic() - t0,
            )
            ended = await self._wait_for_end(job_id)
            if ended is not None:
                log.info(
                    "job %s: end: %s after %.1f s%s",
                    job_id,
                    ended.status,
                    time.monotonic() - t0,
                    f" ({ended.error})" if ended.error else "",
                )
                return
            reason = (
                f"no progress for {self.settings.job_stall_timeout_s:g} s "
                "(work lost in a crash?); fed again"
            )
            log.warning("job %s: %s", job_id, reason)

    async def _begin(self, job: AnalysisJob, reason: str | None) -> JobAttempt:
        async def begin() -> JobAttempt:
            async with self.pool.connection() as conn:
                await create_job(  # a job sent by another tool is registered here
                    conn,
                    job_id=job["job_id"],
                    analysis_type=job["analysis_type"],
                    file_id=job["file_id"],
                    batch_id=job.get("batch_id"),
                )
                return await begin_attempt(
                    conn,
                    job["job_id"],
                    max_retries=self.settings.job_max_retries,
                    reason=reason,
                    namespace=self.settings.kafka_namespace,
                )

        return await self._retrying("PostgreSQL", begin)

    async def _read(self, job: AnalysisJob) -> Recording | None:
        """The job's recording, or None when the file cannot be analysed (job failed)."""
        key = job["object_key"]
        try:
            data = await self._retrying(
                "the S3 server", lambda: asyncio.to_thread(self.store.get, key)
            )
            recording = await asyncio.to_thread(_read_bytes, data, PurePosixPath(key).name)
        except ObjectNotFoundError as exc:
            await self.fail(job["job_id"], f"raw file missing: {exc}; upload it again")
            return None
        except (EEGError, ObjectStoreError) as exc:
            code = getattr(exc, "code", type(exc).__name__)
            await self.fail(job["job_id"], f"{code}: {exc}")
            return None
        return recording

    async def _feed(self, recording: Recording, context: JobContext, speed: float | None) -> None:
        t0 = time.monotonic()
        for segment in segment_file(recording, context, segment_s=self.settings.file_segment_s):
            if speed is not None:
                due = t0 + segment["first_sample"] / recording.sfreq_hz / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self.send_segment(segment)

    async def _wait_for_end(self, job_id: str) -> JobState | None:
        """The job's final state, or None when it made no progress for the stall timeout."""
        last_seen: tuple[str, float] | None = None
        last_change = time.monotonic()
        while True:

            async def read() -> JobState | None:
                async with self.pool.connection() as conn:
                    return await job_state(conn, job_id)

            state = await self._retrying("PostgreSQL", read)
            if state is None or state.is_finished:
                return state
            seen = (state.status, state.progress)
            if seen != last_seen:
                last_seen, last_change = seen, time.monotonic()
            elif time.monotonic() - last_change > self.settings.job_stall_timeout_s:
                return None
            await asyncio.sleep(POLL_S)

    async def fail(self, job_id: str, error: str) -> None:
        """Fail a job that cannot be analysed, with what went wrong."""

        async def fail() -> None:
            async with self.pool.connection() as conn:
                await fail_job(conn, job_id, error)

        await self._retrying("PostgreSQL", fail)
        log.error("job %s: end: failed: %s", job_id, error)

    async def _retrying(self, service: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` until the service it needs answers, saying clearly what is down."""
        while True:
            try:
                return await call()
            except (psycopg.OperationalError, psycopg.errors.ConnectionTimeout) as exc:
                where = redact_url(self.settings.postgres_url)
                detail = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                log.error(
                    "%s at %s does not answer (%s); retrying in %.0f s",
                    service,
                    where,
                    detail,
                    RETRY_PAUSE_S,
                )
            except ObjectStoreUnavailableError as exc:
                log.error("%s: %s; retrying in %.0f s", service, exc, RETRY_PAUSE_S)
            except TimeoutError as exc:  # psycopg_pool: no connection within its timeout
                log.error(
                    "%s at %s: no connection (%s); retrying in %.0f s",
                    service,
                    redact_url(self.settings.postgres_url),
                    exc,
                    RETRY_PAUSE_S,
                )
            await asyncio.sleep(RETRY_PAUSE_S)


def _read_bytes(data: bytes, filename: str) -> Recording:
    """Read a recording from its bytes, with the project's reader (its id is the content's)."""
    suffix = Path(filename).suffix or ".edf"
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        return read_recording(tmp.name)
