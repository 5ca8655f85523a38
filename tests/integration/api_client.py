"""An httpx client talking ASGI to an app whose real lifespan runs around it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psycopg
from fastapi import FastAPI

from api.security import issue_token
from connectors.db.users import User, create_user
from connectors.settings import Settings


async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (pool, store, cache, Kafka admin), then yield a client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@dataclass(frozen=True)
class SignedIn:
    """A user of the API and the header that authenticates their requests."""

    user: User
    headers: dict[str, str]


async def sign_in(settings: Settings, role: str = "clinician") -> SignedIn:
    """A new user (a name of its own) with a valid access token."""
    async with await psycopg.AsyncConnection.connect(settings.postgres_url) as conn:
        user = await create_user(
            conn, name=f"it-user-{uuid.uuid4().hex[:10]}", password_hash=None, role=role
        )
        await conn.commit()
    token = issue_token(
        user.user_id, settings.jwt_secret.get_secret_value(), settings.token_expiry_s
    )
    return SignedIn(user, {"Authorization": f"Bearer {token.token}"})
