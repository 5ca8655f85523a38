"""``/api/v1/recordings/{recording_id}/detections``: a recording's detected events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query
from psycopg import AsyncConnection

from api.dependencies import ConnDep
from api.errors import ApiError, NotFound
from api.security import CurrentUserDep
from connectors.db import queries
from schemas.records import EventType

router = APIRouter(prefix="/api/v1/recordings", tags=["recordings"])

EVENT_TYPES: tuple[str, ...] = get_args(EventType)


@router.get("/{recording_id}/detections")
async def recording_detections(
    recording_id: str,
    user: CurrentUserDep,
    conn: ConnDep,
    event_type: Annotated[
        str | None, Query(description="one of: " + ", ".join(EVENT_TYPES))
    ] = None,
    since: Annotated[datetime | None, Query(description="start_time >= since (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="start_time < until (ISO 8601)")] = None,
) -> list[dict[str, Any]]:
    """Detections of one recording in time order, optionally of one event type and within
    ``[since, until)`` of wall-clock time (times without a zone are UTC)."""
    if event_type is not None and event_type not in EVENT_TYPES:
        raise ApiError(
            422,
            "invalid_request",
            f"event_type {event_type!r} is not an event type: use one of {', '.join(EVENT_TYPES)}",
        )
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise ApiError(
            422,
            "invalid_request",
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
        )
    if not await _recording_visible(conn, recording_id, user.user_id):
        raise NotFound(
            "recording_not_found",
            f"no recording {recording_id!r} and no detections of it: check the id "
            "(the recording_id of a job's status or result)",
        )
    return await queries.detections(
        conn, recording_id=recording_id, event_type=event_type, since=since, until=until
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def _recording_visible(conn: AsyncConnection, recording_id: str, user_id: uuid.UUID) -> bool:
    """Whether the user may see the recording: one of their uploads or jobs, or a bedside
    device's live recording (the ward's, not one user's)."""
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT EXISTS (SELECT 1 FROM recordings r
                             LEFT JOIN uploaded_files f ON f.file_id = r.file_id
                            WHERE r.recording_id = %(r)s
                              AND (r.source LIKE 'device%%' OR f.uploaded_by = %(u)s))
                OR EXISTS (SELECT 1 FROM analysis_jobs
                            WHERE recording_id = %(r)s AND owner_id = %(u)s)
            """,
            {"r": recording_id, "u": user_id},
        )
        row = await cur.fetchone()
    return bool(row and row[0])
