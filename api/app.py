"""The FastAPI application: ``create_app(settings)``, served by ``brrr api``.

The layout follows FastAPI's "bigger applications": this module builds the app and opens what
it needs for its whole life (lifespan); :mod:`api.dependencies` hands those to the routes;
one router per resource under :mod:`api.routers`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from confluent_kafka.admin import AdminClient
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from api.body_limits import LimitBodies, body_limits
from api.errors import describe_errors, install_error_handlers
from api.metrics import count_requests
from api.routers import (
    alerts,
    auth,
    batches,
    eeg,
    health,
    metrics,
    patient,
    recordings,
    results,
)
from api.security import check_jwt_secret
from connectors.cache import TwoLevelCache
from connectors.job_queue import JobQueue
from connectors.object_store import ObjectStore, ObjectStoreError
from connectors.phi import KeyRing
from connectors.rate_limit import LoginRateLimiter
from connectors.settings import Settings, check_secrets, get_settings

log = logging.getLogger(__name__)

#: PostgreSQL connections per API process.
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10


def create_app(settings: Settings | None = None) -> FastAPI:
    """The REST API over the results, configured by ``settings`` (default: the environment).

    Parameters
    ----------
    settings : Settings or None
        Where PostgreSQL, Redis, S3 and Kafka are; None reads ``BRRR_*`` once.

    Returns
    -------
    FastAPI
        The app. Its lifespan opens a PostgreSQL pool, the object store, the cache and a
        Kafka admin client on ``app.state`` and closes them on shutdown; the app starts even
        when a service is down (``/health`` then says which, and routes needing it answer 503).

    Raises
    ------
    InsecureSettingsError
        In production (``BRRR_ENVIRONMENT=production``) while a secret is unset or still its
        development default (:func:`connectors.settings.check_secrets`).
    PhiKeyError
        ``BRRR_PHI_KEYS`` / ``BRRR_PHI_ACTIVE_KEY`` cannot be used.
    ValueError
        ``BRRR_JWT_SECRET`` is too short for HS256.
    """
    settings = settings or get_settings()
    check_secrets(settings, "the API")
    check_jwt_secret(settings.jwt_secret.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _open(app, settings)
        try:
            yield
        finally:
            await _close(app)

    app = FastAPI(
        title="Brain-Go-Brrr",
        summary="Clinical EEG analyses: upload, analyze, jobs, results, batches, alerts, metrics.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.phi_keys = KeyRing.from_settings(settings)
    install_error_handlers(app)
    for module in (health, auth, eeg, patient, results, batches, recordings, alerts, metrics):
        app.include_router(module.router)
    # Added before count_requests, so inside it: the 413s are counted too.
    app.add_middleware(LimitBodies, limit_of=body_limits(app.router.routes, settings))
    app.middleware("http")(count_requests)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(
                get_openapi(
                    title=app.title, version=app.version, summary=app.summary, routes=app.routes
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _open(app: FastAPI, settings: Settings) -> None:
    # open(wait=False): start even when PostgreSQL is down; the pool keeps trying, and a
    # request that finds no connection in time answers 503.
    pool = AsyncConnectionPool(
        settings.postgres_url,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        kwargs={"connect_timeout": 3},
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="brrr-api",
    )
    await pool.open(wait=False)
    store = ObjectStore.from_settings(settings)
    try:
        # The cache writes results read from PostgreSQL: the bucket must exist.
        await run_in_threadpool(store.ensure_bucket)
    except ObjectStoreError as exc:
        log.warning("object store not ready at start (%s); /health will report it", exc)
    app.state.pool = pool
    app.state.store = store
    app.state.cache = TwoLevelCache(store, settings.redis_url)
    app.state.login_limiter = LoginRateLimiter.from_settings(settings)
    app.state.job_queue = JobQueue(settings.kafka_bootstrap_servers, settings.kafka_namespace)
    app.state.kafka_admin = AdminClient(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 3000}
    )


async def _close(app: FastAPI) -> None:
    try:
        await app.state.job_queue.stop()
        await app.state.pool.close()
    finally:
        # Closed even when the pool's close failed: nothing is left to the garbage collector.
        app.state.cache.redis.close()
        app.state.login_limiter.close()
        app.state.store.close()
        # The Kafka admin client has no close(); dropping it releases its sockets.
        del app.state.kafka_admin
