"""``GET /health``: the process is alive. ``GET /ready``: can it do its work, and how fast
does each service answer.

``/ready`` checks PostgreSQL (``SELECT 1`` through the pool), Redis (``PING``), the S3 bucket
(exists), Kafka (cluster metadata) and a worker (a heartbeat in ``worker_status`` younger
than ``BRRR_WORKER_ALIVE_S`` whose model is loaded or not configured) at once, each within
:data:`CHECK_TIMEOUT_S`. All ready: 200. Any not: 503, naming which and what to try.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.errors import error_body
from connectors.db import redact_url
from connectors.db.workers import live_workers

router = APIRouter(tags=["health"])

#: Longest a single check may take before it counts as down, seconds.
CHECK_TIMEOUT_S = 3.0

_HINTS = {
    "postgres": "check BRRR_POSTGRES_URL",
    "redis": "check BRRR_REDIS_URL (results are still served from S3 and PostgreSQL)",
    "s3": "check BRRR_S3_ENDPOINT, BRRR_S3_ACCESS_KEY, BRRR_S3_SECRET_KEY and BRRR_S3_BUCKET",
    "kafka": "check BRRR_KAFKA_BOOTSTRAP_SERVERS",
    "worker": "start one with `brrr worker` (analyses wait in Kafka until one runs)",
}


async def _postgres(request: Request) -> str:
    async with request.app.state.pool.connection(timeout=CHECK_TIMEOUT_S) as conn:
        await conn.execute("SELECT 1")
    return redact_url(request.app.state.settings.postgres_url)


async def _redis(request: Request) -> str:
    cache = request.app.state.cache
    await run_in_threadpool(cache.redis.ping)
    return cache.redis_url


async def _s3(request: Request) -> str:
    store = request.app.state.store
    if not await run_in_threadpool(store.client.bucket_exists, store.bucket):
        raise LookupError(f"bucket {store.bucket} does not exist (the sink or the API creates it)")
    return f"{store.endpoint}/{store.bucket}"


async def _kafka(request: Request) -> str:
    admin = request.app.state.kafka_admin
    metadata = await run_in_threadpool(admin.list_topics, timeout=CHECK_TIMEOUT_S)
    return f"{request.app.state.settings.kafka_bootstrap_servers} ({len(metadata.brokers)} broker)"


async def _worker(request: Request) -> str:
    settings = request.app.state.settings
    async with request.app.state.pool.connection(timeout=CHECK_TIMEOUT_S) as conn:
        workers = await live_workers(
            conn, namespace=settings.kafka_namespace, within_s=settings.worker_alive_s
        )
    if not workers:
        raise LookupError(f"no worker heartbeat in the last {settings.worker_alive_s:g} s")
    ready = [w for w in workers if w.model_state != "failed"]
    if not ready:
        raise RuntimeError(f"Model initialization failed: {workers[0].model_error}")
    return ", ".join(f"{w.worker_id} (model {w.model_state})" for w in ready)


CHECKS: dict[str, Callable[[Request], Awaitable[str]]] = {
    "postgres": _postgres,
    "redis": _redis,
    "s3": _s3,
    "kafka": _kafka,
    "worker": _worker,
}


async def _check(name: str, request: Request) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        target = await asyncio.wait_for(CHECKS[name](request), CHECK_TIMEOUT_S + 0.5)
    except Exception as exc:  # any failure means "down"; the message says which
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        return {
            "ok": False,
            "latency_ms": round(1000 * (time.perf_counter() - start), 1),
            "error": f"{type(exc).__name__}: {message}",
            "hint": f"start the local stack with `brrr stack up`, or {_HINTS[name]}",
        }
    return {"ok": True, "latency_ms": round(1000 * (time.perf_counter() - start), 1), "at": target}


class Alive(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


@router.get("/health", response_model=Alive)
async def health() -> Alive:
    """The API process is alive (it checks nothing else: see ``/ready``)."""
    return Alive()


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Each service with ``ok``, ``latency_ms`` and, when down, ``error`` and ``hint``."""
    results = await asyncio.gather(*(_check(name, request) for name in CHECKS))
    services = dict(zip(CHECKS, results, strict=True))
    down = [name for name, r in services.items() if not r["ok"]]
    if not down:
        return JSONResponse({"status": "ok", "services": services})
    detail = "; ".join(
        f"{name} does not answer ({services[name]['error']}): {services[name]['hint']}"
        for name in down
    )
    return JSONResponse(
        error_body("service_unavailable", detail, down=down, services=services),
        status_code=503,
    )
