"""Users with passwords for tests that log in through ``POST /api/v1/auth/token``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import psycopg

from connectors.db.users import User, create_user
from connectors.passwords import hash_password

PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Login:
    """A user that exists, with their password."""

    user: User
    password: str


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
