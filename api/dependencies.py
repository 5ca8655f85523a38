"""What the routes need, as FastAPI dependencies: settings, the PostgreSQL pool and a
connection from it, the two-level cache. All are opened once by the app's lifespan
(:func:`api.app.create_app`) and kept on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from connectors.cache import TwoLevelCache
from connectors.job_queue import JobQueue
from connectors.object_store import ObjectStore
from connectors.settings import Settings

#: Longest wait for a free PostgreSQL connection before answering 503, seconds.
CONNECTION_TIMEOUT_S = 5.0


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_pool(request: Request) -> AsyncConnectionPool:
    """The app's PostgreSQL connection pool."""
    return request.app.state.pool


async def get_conn(
    pool: Annotated[AsyncConnectionPool, Depends(get_pool)],
) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for one request, returned to the pool afterwards.

    A PostgreSQL that does not answer raises ``psycopg_pool.PoolTimeout`` after
    :data:`CONNECTION_TIMEOUT_S`, which the app answers with 503.
    """
    async with pool.connection(timeout=CONNECTION_TIMEOUT_S) as conn:
        yield conn


def get_cache(request: Request) -> TwoLevelCache:
    """The app's Redis/S3 cache."""
    return request.app.state.cache


def get_store(request: Request) -> ObjectStore:
    """The app's object store."""
    return request.app.state.store


def get_job_queue(request: Request) -> JobQueue:
    """The app's producer of analysis jobs."""
    return request.app.state.job_queue


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
CacheDep = Annotated[TwoLevelCache, Depends(get_cache)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
