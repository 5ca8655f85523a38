"""``/api/v1/jobs``: a job's status, and its complete result.

The complete result is read from the two-level cache first (Redis, then S3) and, when
neither has it, from PostgreSQL's JSONB copy (``analysis_results.result``), which then fills
the cache. The ``X-Result-Source`` header says which answered: ``redis``, ``s3`` or
``postgres``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.dependencies import CacheDep, ConnDep
from api.errors import NotFound
from connectors.cache import TwoLevelCache
from connectors.db import queries
from connectors.object_store import ObjectStoreError, encode_json, result_key

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

RESULT_SOURCE_HEADER = "X-Result-Source"


@router.get("/{job_id}")
async def job_status(job_id: uuid.UUID, conn: ConnDep) -> dict[str, Any]:
    """Status (queued, processing, completed, failed), progress 0-1, retries, error and
    timestamps of one job."""
    row = await queries.job_status(conn, str(job_id))
    if row is None:
        raise _unknown_job(job_id)
    return row


@router.get("/{job_id}/result")
async def job_result(job_id: uuid.UUID, conn: ConnDep, cache: CacheDep) -> Response:
    """The job's complete result document (JSON), from the fastest place that has it."""
    key = result_key(str(job_id))
    try:
        cached = await run_in_threadpool(cache.get_with_source, key)
    except ObjectStoreError as exc:
        # The cache is an accelerator: PostgreSQL holds the same document.
        log.warning("result cache unavailable for job %s (%s): reading PostgreSQL", job_id, exc)
        cached = None
    if cached is not None:
        data, source = cached
        return _json(data, source)

    job = await queries.job_status(conn, str(job_id))
    if job is None:
        raise _unknown_job(job_id)
    row = await queries.analysis_result(conn, str(job_id))
    if row is None or row["result"] is None:
        raise NotFound(
            "result_not_ready",
            f"job {job_id} has no result yet: it is {job['status']} "
            f"(progress {100 * float(job['progress'] or 0):.0f}%"
            + (f", error: {job['error']}" if job["error"] else "")
            + "); ask again when its status is completed",
        )
    data = encode_json(row["result"])
    if job["file_id"] is not None:
        await _fill_cache(cache, str(job_id), job["file_id"], row["result"])
    return _json(data, "postgres")


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


def _unknown_job(job_id: uuid.UUID) -> NotFound:
    return NotFound(
        "job_not_found",
        f"no job {job_id}: check the id (it is the job_id returned when the analysis was "
        "requested), or the job was deleted",
    )
