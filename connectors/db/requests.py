"""What the REST layer asks of PostgreSQL on a user's behalf: their files, jobs, batches.

Every read takes the user's id and finds nothing of another user's: the API answers 404
for both "no such thing" and "not yours", so one user cannot even learn that another's
job exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row


@dataclass(frozen=True)
class OwnedFile:
    """An uploaded file of a user, with what a job needs to be queued for it."""

    file_id: str
    filename: str
    object_key: str
    recording_id: str | None


@dataclass(frozen=True)
class JobStatus:
    """A job as ``GET /api/v1/jobs/{job_id}`` reports it."""

    job_id: str
    file_id: str | None
    recording_id: str | None
    batch_id: str | None
    analysis_type: str
    priority: str
    status: str
    progress: float
    retry_count: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class BatchCounts:
    """How far a batch is."""

    batch_id: str
    total: int
    completed: int
    failed: int
    #: sum of the progress (0-1) of its jobs, finished ones counting 1
    progress_sum: float


_JOB_COLUMNS = """
    job_id::text, file_id::text, recording_id, batch_id::text, analysis_type, priority, status,
    progress, retry_count, error, created_at, started_at, completed_at
"""


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID (ids that are not cannot name anything: 404, not 422)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def owned_file(conn: AsyncConnection, file_id: str, owner_id: uuid.UUID) -> OwnedFile | None:
    """The user's uploaded file, or None (unknown, or another user's)."""
    if not is_uuid(file_id):
        return None
    async with conn.cursor(row_factory=class_row(OwnedFile)) as cur:
        await cur.execute(
            """
            SELECT f.file_id::text, f.filename, f.object_key,
                   (SELECT r.recording_id FROM recordings r WHERE r.file_id = f.file_id
                     ORDER BY r.created_at LIMIT 1) AS recording_id
              FROM uploaded_files f
             WHERE f.file_id = %s AND f.uploaded_by = %s
            """,
            (file_id, owner_id),
        )
        return await cur.fetchone()


async def owned_job(conn: AsyncConnection, job_id: str, owner_id: uuid.UUID) -> JobStatus | None:
    """The user's job, or None (unknown, or another user's)."""
    if not is_uuid(job_id):
        return None
    async with conn.cursor(row_factory=class_row(JobStatus)) as cur:
        await cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM analysis_jobs WHERE job_id = %s AND owner_id = %s",
            (job_id, owner_id),
        )
        return await cur.fetchone()


async def owned_result(
    conn: AsyncConnection, job_id: str, owner_id: uuid.UUID
) -> dict[str, Any] | None:
    """The result document of the user's job, or None (no result yet, or not theirs)."""
    if not is_uuid(job_id):
        return None
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT r.result FROM analysis_results r JOIN analysis_jobs j USING (job_id)
             WHERE r.job_id = %s AND j.owner_id = %s
            """,
            (job_id, owner_id),
        )
        row = await cur.fetchone()
    return None if row is None else row[0]


async def user_jobs(
    conn: AsyncConnection, owner_id: uuid.UUID, *, limit: int = 100
) -> list[JobStatus]:
    """The user's jobs, newest first."""
    async with conn.cursor(row_factory=class_row(JobStatus)) as cur:
        await cur.execute(
            f"""
            SELECT {_JOB_COLUMNS} FROM analysis_jobs WHERE owner_id = %s
             ORDER BY created_at DESC, job_id LIMIT %s
            """,
            (owner_id, limit),
        )
        return await cur.fetchall()


async def delete_queued_job(conn: AsyncConnection, job_id: str) -> None:
    """Remove a job that could not be enqueued (nothing half-stored)."""
    await conn.execute(
        "DELETE FROM analysis_jobs WHERE job_id = %s AND status = 'queued'", (job_id,)
    )


async def create_batch(
    conn: AsyncConnection,
    *,
    batch_id: str,
    owner_id: uuid.UUID,
    n_jobs: int,
    analysis_type: str,
    priority: str,
) -> None:
    """Record a batch of jobs."""
    await conn.execute(
        """
        INSERT INTO batches (batch_id, name, n_jobs, created_by, analysis_type, priority)
        VALUES (%s, %s, %s, %s, %s, %s)
        """,
        (batch_id, f"batch {batch_id[:8]}", n_jobs, owner_id, analysis_type, priority),
    )


async def owned_batch_counts(
    conn: AsyncConnection, batch_id: str, owner_id: uuid.UUID
) -> BatchCounts | None:
    """How far the user's batch is, or None (unknown, or another user's)."""
    if not is_uuid(batch_id):
        return None
    async with conn.cursor(row_factory=class_row(BatchCounts)) as cur:
        await cur.execute(
            """
            SELECT b.batch_id::text, b.n_jobs AS total,
                   count(*) FILTER (WHERE j.status = 'completed')::int AS completed,
                   count(*) FILTER (WHERE j.status = 'failed')::int AS failed,
                   coalesce(sum(CASE WHEN j.status IN ('completed', 'failed') THEN 1.0
                                     ELSE j.progress END), 0)::float AS progress_sum
              FROM batches b LEFT JOIN analysis_jobs j ON j.batch_id = b.batch_id
             WHERE b.batch_id = %s AND b.created_by = %s
             GROUP BY b.batch_id, b.n_jobs
            """,
            (batch_id, owner_id),
        )
        return await cur.fetchone()


async def batch_analyses(
    conn: AsyncConnection, batch_id: str, owner_id: uuid.UUID
) -> list[dict[str, Any]]:
    """One row per job of the user's batch: its status and its result document (or None)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT {", ".join("j." + c.strip() for c in _JOB_COLUMNS.split(","))},
                   r.result
              FROM analysis_jobs j
              JOIN batches b ON b.batch_id = j.batch_id
              LEFT JOIN analysis_results r ON r.job_id = j.job_id
             WHERE j.batch_id = %s AND b.created_by = %s
             ORDER BY j.created_at, j.job_id
            """,
            (batch_id, owner_id),
        )
        return await cur.fetchall()
