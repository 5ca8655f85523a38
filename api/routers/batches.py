"""``/api/v1/batch``: many files analysed at once, with one progress and one answer.

A batch's jobs go to Kafka under the batch's priority; the worker starts a waiting
high-priority job before any waiting lower-priority one (``streams.jobs.PrioritySlots``).
Progress is the mean of the jobs' progress, finished ones counting 100, so it never goes
back.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.dependencies import ConnDep, JobQueueDep, SettingsDep
from api.errors import ApiError, NotFound
from api.routers.eeg import StageSwitches, check_model, submit_job, unknown_file
from api.security import CurrentUserDep
from connectors.db.requests import batch_analyses, create_batch, owned_batch_counts, owned_file
from schemas.records import AnalysisType, JobPriority

router = APIRouter(prefix="/api/v1/batch", tags=["batches"])


class BatchRequest(BaseModel):
    """Analyses of several uploaded files."""

    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, description="file_ids from /eeg/upload.")
    analysis_type: AnalysisType = "screening"
    priority: JobPriority = "normal"


class BatchAnswer(BaseModel):
    """The batch and its jobs, one per file, in the order of ``file_ids``."""

    batch_id: str
    job_ids: list[str]


class BatchStatus(BaseModel):
    """How far a batch is."""

    batch_id: str
    total: int
    completed: int
    failed: int
    progress: float = Field(ge=0, le=100, description="Percent done; never decreases.")


class BatchAnalysis(BaseModel):
    """One job of a batch."""

    job_id: str
    file_id: str | None
    status: Literal["queued", "processing", "completed", "failed"]
    error: str | None
    result: dict[str, Any] | None = Field(description="The result document; null until done.")


class BatchResults(BaseModel):
    """One entry per job: its status and, when completed, its result document."""

    batch_id: str
    analyses: list[BatchAnalysis]


@router.post("/analyze", status_code=202, response_model=BatchAnswer)
async def analyze_batch(
    body: BatchRequest,
    user: CurrentUserDep,
    conn: ConnDep,
    queue: JobQueueDep,
    settings: SettingsDep,
) -> BatchAnswer:
    """Queue one job per file, all in one batch."""
    if len(body.file_ids) > settings.batch_max_files:
        raise ApiError(
            422,
            "invalid_request",
            f"{len(body.file_ids)} files in one batch; at most {settings.batch_max_files} "
            "(BRRR_BATCH_MAX_FILES): split it",
        )
    files = []
    for file_id in body.file_ids:  # all known before any job is queued
        found = await owned_file(conn, file_id, user.user_id)
        if found is None:
            raise unknown_file(file_id)
        files.append(found)
    await check_model(conn, settings, body.analysis_type)
    batch_id = str(uuid.uuid4())
    await create_batch(
        conn,
        batch_id=batch_id,
        owner_id=user.user_id,
        n_jobs=len(files),
        analysis_type=body.analysis_type,
        priority=body.priority,
    )
    job_ids = [
        await submit_job(
            conn,
            queue,
            found,
            user=user,
            analysis_type=body.analysis_type,
            options=StageSwitches(),
            priority=body.priority,
            batch_id=batch_id,
        )
        for found in files
    ]
    return BatchAnswer(batch_id=batch_id, job_ids=job_ids)


@router.get("/{batch_id}/status", response_model=BatchStatus)
async def batch_status(batch_id: str, user: CurrentUserDep, conn: ConnDep) -> BatchStatus:
    """Counts of the batch's jobs and its overall progress."""
    counts = await owned_batch_counts(conn, batch_id, user.user_id)
    if counts is None:
        raise _unknown_batch(batch_id)
    progress = 100.0 * counts.progress_sum / max(1, counts.total)
    return BatchStatus(
        batch_id=counts.batch_id,
        total=counts.total,
        completed=counts.completed,
        failed=counts.failed,
        progress=round(min(100.0, progress), 1),
    )


@router.get("/{batch_id}/results", response_model=BatchResults)
async def batch_results(batch_id: str, user: CurrentUserDep, conn: ConnDep) -> BatchResults:
    """Every job of the batch with its result document (null until it is completed)."""
    if await owned_batch_counts(conn, batch_id, user.user_id) is None:
        raise _unknown_batch(batch_id)
    rows = await batch_analyses(conn, batch_id, user.user_id)
    analyses = [
        BatchAnalysis(
            job_id=row["job_id"],
            file_id=row["file_id"],
            status=row["status"],
            error=row["error"],
            result=row["result"],
        )
        for row in rows
    ]
    return BatchResults(batch_id=batch_id, analyses=analyses)


def _unknown_batch(batch_id: str) -> NotFound:
    return NotFound(
        "batch_not_found",
        f"no batch {batch_id!r}: use the batch_id that POST /api/v1/batch/analyze returned",
    )
