"""``/api/v1/alerts``: urgent alerts of live recordings, as stored from the urgent topic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.dependencies import ConnDep
from api.routers.recordings import _utc
from api.security import CurrentUserDep
from connectors.db import queries

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("")
async def list_alerts(
    _user: CurrentUserDep,
    conn: ConnDep,
    recording_id: Annotated[str | None, Query(description="only this recording's")] = None,
    since: Annotated[datetime | None, Query(description="emitted at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Urgent alerts, newest first: an ``onset`` row when an episode's evidence was complete
    and an ``ended`` row when it ended (the same ``alert_id``). Alerts come from bedside
    devices, which belong to the ward rather than to one user: every signed-in user sees
    them."""
    return await queries.alerts(conn, recording_id=recording_id, since=_utc(since), limit=limit)
