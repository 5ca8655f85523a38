"""``/api/v1/jobs/{job_id}`` (status), ``/api/v1/results/{job_id}`` (the result document and
its plot) and ``/api/v1/user/analyses`` (the user's jobs).

The result document is read from the two-level cache first (Redis, then S3) and, when neither
has it, from PostgreSQL's copy, which then fills the cache; the ``X-Result-Source`` header
says which answered (``redis``, ``s3``, ``postgres``). Only the job's owner sees any of it:
another user's id is 404, as if it did not exist.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import CacheDep, ConnDep, StoreDep
from api.errors import NotFound
from api.security import CurrentUserDep
from connectors.cache import TwoLevelCache
from connectors.db.requests import JobStatus, owned_job, owned_result, user_jobs
from connectors.object_store import ObjectNotFoundError, ObjectStoreError, encode_json, result_key
from schemas.document import json_schema

log = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])

RESULT_SOURCE_HEADER = "X-Result-Source"


class JobAnswer(BaseModel):
    """A job's state."""

    job_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    progress: float = Field(ge=0, le=100, description="Percent of the recording's windows done.")
    retry_count: int = Field(description="Times the job was started again after an interruption.")
    error: str | None = Field(description="Why it failed; null unless failed.")
    analysis_type: str
    priority: str
    file_id: str | None
    recording_id: str | None = Field(description="Its recording (for /recordings/.../detections).")
    batch_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class UserAnalyses(BaseModel):
    """The user's jobs, newest first."""

    analyses: list[JobAnswer]


def job_answer(job: JobStatus) -> JobAnswer:
    """The API's view of a job row: progress as a percentage."""
    return JobAnswer(
        job_id=job.job_id,
        status=job.status,  # type: ignore[arg-type]
        progress=round(100.0 * float(job.progress), 1),
        retry_count=job.retry_count,
        error=job.error,
        analysis_type=job.analysis_type,
        priority=job.priority,
        file_id=job.file_id,
        recording_id=job.recording_id,
        batch_id=job.batch_id,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )


@router.get("/api/v1/jobs/{job_id}", response_model=JobAnswer)
async def job_status(job_id: str, user: CurrentUserDep, conn: ConnDep) -> JobAnswer:
    """Status (queued, processing, completed, failed), progress 0-100, retries, error and
    timestamps of one of the user's jobs."""
    job = await owned_job(conn, job_id, user.user_id)
    if job is None:
        raise unknown_job(job_id)
    return job_answer(job)


@router.get("/api/v1/user/analyses", response_model=UserAnalyses)
async def my_analyses(user: CurrentUserDep, conn: ConnDep) -> UserAnalyses:
    """The user's jobs, newest first (at most 100)."""
    return UserAnalyses(analyses=[job_answer(j) for j in await user_jobs(conn, user.user_id)])


@router.get(
    "/api/v1/results/{job_id}",
    responses={
        200: {
            "description": "The result document (brrr.eeg.ResultDocument).",
            "content": {"application/json": {"schema": json_schema()}},
        }
    },
)
async def job_result(job_id: str, user: CurrentUserDep, conn: ConnDep, cache: CacheDep) -> Response:
    """The job's result document, from the fastest place that has it; 404 while the job has
    no result."""
    job = await owned_job(conn, job_id, user.user_id)
    if job is None:
        raise unknown_job(job_id)
    try:
        cached = await run_in_threadpool(cache.get_with_source, result_key(job.job_id))
    except ObjectStoreError as exc:
        # The cache is an accelerator: PostgreSQL holds the same document.
        log.warning("result cache unavailable for job %s (%s): reading PostgreSQL", job_id, exc)
        cached = None
    if cached is not None:
        data, source = cached
        return _json(data, source)
    document = await owned_result(conn, job.job_id, user.user_id)
    if document is None:
        raise _no_result_yet(job)
    if job.file_id is not None:
        await _fill_cache(cache, job.job_id, job.file_id, document)
    return _json(encode_json(document), "postgres")


@router.get(
    "/api/v1/results/{job_id}/report.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The report plot."}},
)
async def job_report(job_id: str, user: CurrentUserDep, conn: ConnDep, store: StoreDep) -> Response:
    """The plot ``brrr analyze --plot`` draws, of the job's recording and result."""
    job = await owned_job(conn, job_id, user.user_id)
    if job is None:
        raise unknown_job(job_id)
    try:
        png = await run_in_threadpool(store.get_report, job.job_id)
    except ObjectNotFoundError:
        raise _no_result_yet(job) from None
    return Response(content=png, media_type="image/png")


def unknown_job(job_id: str) -> NotFound:
    """The 404 for a job that does not exist or is not the user's."""
    return NotFound(
        "job_not_found",
        f"no job {job_id!r}: check the id (the job_id returned when the analysis was requested)",
    )


def _no_result_yet(job: JobStatus) -> NotFound:
    return NotFound(
        "result_not_ready",
        f"job {job.job_id} has no result yet: it is {job.status} "
        f"(progress {100 * float(job.progress):.0f}%"
        + (f", error: {job.error}" if job.error else "")
        + "); ask again when its status is completed",
    )


async def _fill_cache(cache: TwoLevelCache, job_id: str, file_id: str, document: Any) -> None:
    """Put a result read from PostgreSQL into the cache, as derived from its file (so that
    ``invalidate_file`` removes it); a cache that fails only costs the next read a query."""
    try:
        await run_in_threadpool(cache.put_result, job_id, file_id, document)
    except ObjectStoreError as exc:
        log.warning("could not cache the result of job %s (%s)", job_id, exc)


def _json(data: bytes, source: str) -> Response:
    return Response(
        content=data, media_type="application/json", headers={RESULT_SOURCE_HEADER: source}
    )
