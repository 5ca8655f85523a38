"""Registration of uploads, recordings and analysis jobs, and a job's life cycle.

A job is ``queued`` when registered, ``processing`` from the moment a worker starts feeding
its recording into the stream (with a progress that only moves forward), then ``completed``
(by the result sink, with its result, in one transaction) or ``failed`` with the reason.
A job a worker picks up again after an interruption (the worker was killed, or the job
stopped making progress) counts a retry; past ``max_retries`` it is failed, not retried
forever.

Every write is idempotent: registering twice, or replaying a progress message, changes
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

JobStatus = Literal["queued", "processing", "completed", "failed"]


def patient_reference(identifier: str, key: bytes) -> str:
    """An opaque, stable reference to a patient: HMAC-SHA256 of the identifier.

    The database keeps only this reference, never the name or code; the same identifier and
    key give the same reference, so one patient's recordings can be grouped, but the
    identifier cannot be read back without the key.

    Parameters
    ----------
    identifier : str
        The patient identifier from the EDF header (code, or name and birth date).
    key : bytes
        A secret of the deployment, at least 16 bytes.
    """
    if len(key) < 16:
        raise ValueError("patient_reference needs a secret key of at least 16 bytes")
    normalised = " ".join(identifier.split()).casefold()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


# --- jobs and uploads --------------------------------------------------------------------------


async def register_upload(
    conn: AsyncConnection,
    *,
    file_id: str,
    filename: str,
    object_key: str,
    sha256: str,
    size_bytes: int,
    content_type: str = "application/octet-stream",
    patient_ref: str | None = None,
    uploaded_by: str | None = None,
) -> None:
    """Record an uploaded file (idempotent on ``file_id``); ``uploaded_by`` is its owner
    (None: a command-line replay)."""
    await conn.execute(
        """
        INSERT INTO uploaded_files (file_id, filename, object_key, sha256, size_bytes,
                                    content_type, patient_ref, uploaded_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (file_id) DO NOTHING
        """,
        (file_id, filename, object_key, sha256, size_bytes, content_type, patient_ref, uploaded_by),
    )


async def register_recording(
    conn: AsyncConnection,
    *,
    recording_id: str,
    source: str,
    file_id: str | None = None,
    patient_ref: str | None = None,
    start_time: datetime | None = None,
    duration_s: float | None = None,
    sfreq_hz: float | None = None,
    ch_names: Sequence[str] = (),
) -> None:
    """Record a recording (idempotent on ``recording_id``); ``patient_ref`` comes from
    :func:`patient_reference`, never a name."""
    await conn.execute(
        """
        INSERT INTO recordings (recording_id, file_id, source, patient_ref, start_time,
                                duration_s, sfreq_hz, ch_names)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (recording_id) DO NOTHING
        """,
        (
            recording_id,
            file_id,
            source,
            patient_ref,
            start_time,
            duration_s,
            sfreq_hz,
            list(ch_names),
        ),
    )


async def create_job(
    conn: AsyncConnection,
    *,
    job_id: str,
    analysis_type: str,
    file_id: str | None = None,
    recording_id: str | None = None,
    batch_id: str | None = None,
    owner_id: str | None = None,
    priority: str = "normal",
    options: Mapping[str, str] | None = None,
) -> None:
    """Queue an analysis job (idempotent on ``job_id``: an existing job is left as is).

    ``options`` are the job's stage switches and replay settings, as the ``AnalysisJob``
    record carries them (text values).
    """
    await conn.execute(
        """
        INSERT INTO analysis_jobs (job_id, analysis_type, file_id, recording_id, batch_id,
                                   owner_id, priority, options)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (job_id) DO NOTHING
        """,
        (
            job_id,
            analysis_type,
            file_id,
            recording_id,
            batch_id,
            owner_id,
            priority,
            Jsonb(dict(options or {})),
        ),
    )


async def update_job_progress(conn: AsyncConnection, job_id: str, progress: float) -> None:
    """Mark a queued or running job as processing, at ``progress`` (0 to 1).

    Progress only moves forward and a finished job is left alone, so late or replayed
    progress messages change nothing.
    """
    await conn.execute(
        """
        UPDATE analysis_jobs
           SET status = 'processing',
               progress = GREATEST(progress, %s),
               started_at = COALESCE(started_at, now()),
               updated_at = now()
         WHERE job_id = %s AND status IN ('queued', 'processing')
        """,
        (progress, job_id),
    )


@dataclass(frozen=True)
class JobState:
    """Where a job stands, as stored."""

    job_id: str
    status: JobStatus
    progress: float
    retry_count: int
    error: str | None
    updated_at: datetime

    @property
    def is_finished(self) -> bool:
        return self.status in ("completed", "failed")


async def job_state(conn: AsyncConnection, job_id: str) -> JobState | None:
    """The stored state of a job, or None when there is no such job."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT job_id::text, status, progress, retry_count, error, updated_at
              FROM analysis_jobs WHERE job_id = %s
            """,
            (job_id,),
        )
        row = await cur.fetchone()
    return None if row is None else JobState(**row)


@dataclass(frozen=True)
class JobAttempt:
    """What a worker picking up a job should do.

    ``action`` is ``run`` (feed the recording; ``attempt`` is the job's retry count, which
    tags the segments of this attempt), ``finished`` (the job is already completed or failed:
    a redelivered job message) or ``gave_up`` (it was interrupted more than ``max_retries``
    times and is now failed).
    """

    action: Literal["run", "finished", "gave_up"]
    attempt: int
    state: JobState


async def begin_attempt(
    conn: AsyncConnection,
    job_id: str,
    *,
    max_retries: int,
    reason: str | None = None,
    namespace: str = "",
) -> JobAttempt:
    """Start (or restart) a registered job: ``processing``, a retry counted when it was
    already processing (an interrupted attempt), failed past ``max_retries``.

    Parameters
    ----------
    conn : psycopg.AsyncConnection
        An open connection (autocommit, or the caller commits).
    job_id : str
        The job, registered with :func:`create_job`.
    max_retries : int
        Retries allowed after the first attempt.
    reason : str | None
        Why the previous attempt is being abandoned (stored in ``error`` while retrying, and
        in the failure when the job gives up); None: "interrupted" (the worker stopped).
    namespace : str
        The Kafka namespace of the worker running it: only that namespace's workers take
        the job again when it stalls (:func:`claim_stalled_jobs`).

    Raises
    ------
    LookupError
        When the job is not registered.
    """
    why = reason or "processing was interrupted (the worker stopped before the job ended)"
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT status, retry_count FROM analysis_jobs WHERE job_id = %s FOR UPDATE",
            (job_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"job {job_id} is not registered: register it before queueing it")
        if row["status"] in ("completed", "failed"):
            state = await job_state(conn, job_id)
            assert state is not None
            return JobAttempt("finished", row["retry_count"], state)
        retry = row["status"] == "processing" or reason is not None
        attempt = row["retry_count"] + (1 if retry else 0)
        if attempt > max_retries:
            await cur.execute(
                """
                UPDATE analysis_jobs
                   SET status = 'failed', retry_count = %s, completed_at = now(),
                       updated_at = now(), error = %s
                 WHERE job_id = %s
                """,
                (
                    attempt - 1,
                    f"gave up after {attempt} attempts ({max_retries} retries): {why}",
                    job_id,
                ),
            )
            action: Literal["run", "gave_up"] = "gave_up"
        else:
            await cur.execute(
                """
                UPDATE analysis_jobs
                   SET status = 'processing', retry_count = %s,
                       started_at = COALESCE(started_at, now()), updated_at = now(),
                       error = %s, kafka_namespace = %s
                 WHERE job_id = %s
                """,
                (attempt, f"retry {attempt}: {why}" if retry else None, namespace, job_id),
            )
            action = "run"
    state = await job_state(conn, job_id)
    assert state is not None
    return JobAttempt(action, attempt, state)


async def fail_job(conn: AsyncConnection, job_id: str, error: str) -> None:
    """Fail a job that has not finished, with what went wrong and what to do."""
    await conn.execute(
        """
        UPDATE analysis_jobs
           SET status = 'failed', error = %s, completed_at = now(), updated_at = now()
         WHERE job_id = %s AND status IN ('queued', 'processing')
        """,
        (error, job_id),
    )


@dataclass(frozen=True)
class StalledJob:
    """A job left ``processing`` without progress: what it takes to queue it again."""

    job_id: str
    file_id: str
    object_key: str
    analysis_type: str
    batch_id: str | None
    priority: str
    owner_id: str | None
    options: dict[str, str]


async def claim_stalled_jobs(
    conn: AsyncConnection, *, stalled_for_s: float, namespace: str = "", limit: int = 20
) -> list[StalledJob]:
    """Jobs ``processing`` with no update for ``stalled_for_s`` (their worker died and no
    other picked them up), claimed by touching them, so that one worker of many queues
    each again, once per stall period."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            UPDATE analysis_jobs j
               SET updated_at = now()
              FROM uploaded_files f
             WHERE j.file_id = f.file_id
               AND j.job_id IN (
                   SELECT job_id FROM analysis_jobs
                    WHERE status = 'processing' AND kafka_namespace = %s
                      AND updated_at < now() - make_interval(secs => %s)
                    ORDER BY updated_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED)
            RETURNING j.job_id::text, j.file_id::text, f.object_key, j.analysis_type,
                      j.batch_id::text, j.priority, j.owner_id::text, j.options
            """,
            (namespace, stalled_for_s, limit),
        )
        return [StalledJob(**row) for row in await cur.fetchall()]
