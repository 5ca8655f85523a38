"""``/api/v1/metrics/analysis`` (hourly analysis times from PostgreSQL) and ``/metrics``
(Prometheus exposition of this process: API requests, cache lookups...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.dependencies import ConnDep
from api.security import CurrentUserDep
from connectors.db import queries

router = APIRouter(tags=["metrics"])

#: Longest look-back of the analysis metrics, hours (31 days).
MAX_HOURS = 24 * 31
#: Width of the analysis-metrics buckets.
BUCKET = timedelta(hours=1)


@router.get("/api/v1/metrics/analysis")
async def analysis_metrics(
    _user: CurrentUserDep,
    conn: ConnDep,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="look-back, hours")] = 24,
) -> dict[str, Any]:
    """Jobs per hour over the last ``hours`` with their mean processing and inference times
    (seconds); hours without jobs are absent."""
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)
    rows = await queries.analysis_times(conn, since=since, until=until, bucket=BUCKET)
    return {
        "since": since,
        "until": until,
        "bucket_s": int(BUCKET.total_seconds()),
        "buckets": rows,
    }


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    """Every metric of this process in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
