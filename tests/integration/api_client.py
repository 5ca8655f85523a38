"""An httpx client talking ASGI to an app whose real lifespan runs around it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI


async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (pool, store, cache, Kafka admin), then yield a client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
