"""Prometheus metrics of the API: requests by route and status, and their latency.

Registered once per process in the default registry, next to the cache's
``cache_hits_total`` and ``cache_misses_total``; ``GET /metrics`` exposes them all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "http_requests_total",
    "API requests by method, path template and HTTP status.",
    ["method", "path", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "API request latency by method and path template, seconds.",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


async def count_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: count every request and time it, labelled by its route template
    (``/api/v1/jobs/{job_id}``, not the id itself, so the label set stays small)."""
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        REQUESTS.labels(request.method, template, str(status)).inc()
        LATENCY.labels(request.method, template).observe(time.perf_counter() - start)
