"""Users and tokens against the real PostgreSQL and Redis: a token issued, used, expired,
forged; a deleted user; the login rate limit across API processes and without Redis;
``brrr users create``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
import pytest_asyncio

from api.app import create_app
from api.security import ISSUER, issue_token
from connectors.db.migrate import migrate
from connectors.db.users import delete_user
from connectors.settings import Settings
from tests.integration.api_client import (
    PASSWORD,
    Login,
    bearer,
    new_user,
    request_token,
)
from tests.integration.api_client import app_client as _client
from tests.ports import free_port

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parents[2]
MAX_ATTEMPTS = 3
WRONG = "wrong password!!"


@pytest.fixture(scope="module")
def auth_settings(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    return stack.model_copy(update={"login_max_attempts": MAX_ATTEMPTS, "login_window_s": 60})


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(auth_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(create_app(auth_settings)):
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def login(auth_settings: Settings) -> Login:
    return await new_user(auth_settings.postgres_url)


async def _status(api: httpx.AsyncClient, name: str, password: str) -> int:
    return (await request_token(api, name, password)).status_code


@session_loop
async def test_token_issued_and_used(client: httpx.AsyncClient, login: Login) -> None:
    r = await request_token(client, login.user.name.upper(), login.password)  # names ignore case
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(login.user.user_id)
    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user_id": str(login.user.user_id),
        "name": login.user.name,
        "role": "clinician",
    }


@session_loop
async def test_wrong_password_and_unknown_user_are_401(
    client: httpx.AsyncClient, login: Login
) -> None:
    unknown = ("nobody-" + "x" * 8, PASSWORD)
    for name, password in ((login.user.name, WRONG), unknown, ("nul\x00byte", PASSWORD)):
        r = await request_token(client, name, password)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized"
        assert "wrong user name or password" in r.json()["message"]
        assert r.headers["WWW-Authenticate"] == "Bearer"


@session_loop
async def test_missing_token_is_401_with_the_bearer_challenge(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        r = await client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert (
            r.json()["error"] == "unauthorized" and "needs an access token" in r.json()["message"]
        )


@session_loop
async def test_expired_forged_and_wrongly_signed_tokens_are_401(
    client: httpx.AsyncClient, auth_settings: Settings, login: Login
) -> None:
    secret = auth_settings.jwt_secret.get_secret_value()
    uid = login.user.user_id
    expired = issue_token(uid, secret, 60, now=datetime.now(UTC) - timedelta(hours=1)).token
    other_key = issue_token(uid, "not-the-deployment-secret-" + "0" * 32, 600).token
    header, _, signature = issue_token(uid, secret, 600).token.split(".")
    payload = jwt.encode(
        {"sub": str(uuid.uuid4()), "iat": 0, "exp": 2**40, "iss": ISSUER}, "y" * 32
    ).split(".")[1]
    forged = f"{header}.{payload}.{signature}"
    unsigned = jwt.encode({"sub": str(uid), "iat": 0, "exp": 2**40, "iss": ISSUER}, None, "none")
    cases = {
        expired: "expired",
        other_key: "signature",
        forged: "signature",
        unsigned: "not valid",
        "not.a.token": "not valid",
    }
    for token, reason in cases.items():
        r = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert r.status_code == 401, (reason, r.text)
        assert r.json()["error"] == "unauthorized" and reason in r.json()["message"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


@session_loop
async def test_token_of_a_deleted_user_is_401(
    client: httpx.AsyncClient, auth_settings: Settings, login: Login
) -> None:
    token = (await request_token(client, login.user.name, login.password)).json()["access_token"]
    async with await psycopg.AsyncConnection.connect(auth_settings.postgres_url) as conn:
        assert await delete_user(conn, login.user.user_id)
    r = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert r.status_code == 401 and "no longer exists" in r.json()["message"]


@session_loop
async def test_login_rate_limited_per_name_across_processes(
    client: httpx.AsyncClient, auth_settings: Settings, login: Login
) -> None:
    # A second API process: the same Redis counts for both.
    async for other in _client(create_app(auth_settings)):
        for attempt in range(MAX_ATTEMPTS):
            api = client if attempt % 2 == 0 else other
            assert await _status(api, login.user.name, WRONG) == 401
        for api in (client, other):
            # even the right password
            r = await request_token(api, login.user.name.title(), login.password)
            assert r.status_code == 429
            assert r.json()["error"] == "too_many_attempts"
            assert "wait" in r.json()["message"]
            assert 1 <= int(r.headers["Retry-After"]) <= 60
    # another user name is not limited
    assert await _status(client, "someone-else-" + uuid.uuid4().hex[:6], WRONG) == 401


@session_loop
async def test_successful_logins_do_not_count(client: httpx.AsyncClient, login: Login) -> None:
    for _ in range(MAX_ATTEMPTS + 2):
        assert await _status(client, login.user.name, login.password) == 200


@session_loop
async def test_login_works_without_redis_and_limits_per_process(
    auth_settings: Settings, login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    down = auth_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with caplog.at_level(logging.WARNING, logger="connectors.rate_limit"):
        async for api in _client(create_app(down)):
            assert await _status(api, login.user.name, login.password) == 200
            for _ in range(MAX_ATTEMPTS):
                assert await _status(api, login.user.name, WRONG) == 401
            assert await _status(api, login.user.name, login.password) == 429
    assert "limited per API process" in caplog.text


def _brrr_users_create(*args: str, password: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "users", "create", *args],
        cwd=REPO,
        env=env,
        input=password,
        capture_output=True,
        text=True,
        timeout=120,
    )


@session_loop
async def test_brrr_users_create(client: httpx.AsyncClient) -> None:
    name = f"it-cli-{uuid.uuid4().hex[:10]}"
    done = _brrr_users_create(
        name, "--password-stdin", "--role", "researcher", password=PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert f"created user {name} (researcher)" in done.stdout
    r = await request_token(client, name, PASSWORD)
    assert r.status_code == 200, r.text
    me = await client.get("/api/v1/auth/me", headers=bearer(r.json()["access_token"]))
    assert me.json()["name"] == name and me.json()["role"] == "researcher"

    again = _brrr_users_create(name.upper(), "--password-stdin", password=PASSWORD + "\n")
    assert again.returncode == 1 and "exists already" in again.stderr

    short = _brrr_users_create(f"{name}-2", "--password-stdin", password="short\n")
    assert short.returncode == 1 and "use at least 12" in short.stderr

    bad = _brrr_users_create("two words", "--password-stdin", password=PASSWORD + "\n")
    assert bad.returncode == 1 and "is not allowed" in bad.stderr
