"""Talking to the API in tests: an httpx client over ASGI with the app's real lifespan, and
users with their tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import psycopg
from fastapi import FastAPI

from api.security import issue_token
from connectors.db.users import User, create_user
from connectors.passwords import hash_password
from connectors.settings import Settings

PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Login:
    """A user that exists, with their password."""

    user: User
    password: str


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


async def new_user(postgres_url: str, prefix: str = "it-user") -> Login:
    """A user of a name no earlier run used (rate-limit counts never collide)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        user = await create_user(conn, name=name, password_hash=hash_password(PASSWORD))
    return Login(user, PASSWORD)


async def request_token(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    """The answer of ``POST /api/v1/auth/token``."""
    return await client.post("/api/v1/auth/token", data={"username": name, "password": password})


async def bearer_of(client: httpx.AsyncClient, login: Login) -> dict[str, str]:
    """The ``Authorization`` header of a fresh token of ``login``."""
    r = await request_token(client, login.user.name, login.password)
    r.raise_for_status()
    return bearer(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``token``."""
    return {"Authorization": f"Bearer {token}"}
