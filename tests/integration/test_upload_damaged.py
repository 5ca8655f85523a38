"""The damaged files of ``tests/processors/test_damaged_files.py`` through
``POST /api/v1/eeg/upload``: no 5xx, every refusal a 4xx with its code and message, and
nothing left behind by a refused upload (no row, no object)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from tests.integration.api_client import SignedIn, sign_in
from tests.processors.test_damaged_files import damaged

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Uploads:
    """The app, a signed-in user and what the run accepted."""

    def __init__(self, client: TestClient, user: SignedIn) -> None:
        self.client = client
        self.user = user
        self.accepted: set[str] = set()
        self.refused: dict[str, int] = {}


@pytest.fixture(scope="module")
def uploads(stack: Settings) -> Iterator[Uploads]:
    migrate(stack.postgres_url)
    user = asyncio.run(sign_in(stack))
    with TestClient(create_app(stack)) as client:
        yield Uploads(client, user)


def _stored(stack: Settings, user: SignedIn) -> tuple[set[str], set[str]]:
    """The user's file ids in PostgreSQL, and the file ids under raw/ in S3 among them."""
    with psycopg.connect(stack.postgres_url) as conn:
        rows = conn.execute(
            "SELECT file_id::text, object_key FROM uploaded_files WHERE uploaded_by = %s",
            (user.user.user_id,),
        ).fetchall()
    store = ObjectStore.from_settings(stack)
    in_s3 = {file_id for file_id, key in rows if store.exists(key)}
    return {file_id for file_id, _ in rows}, in_s3


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=damaged())
def test_damaged_uploads_are_refused_with_their_reason(uploads: Uploads, data: bytes) -> None:
    r = uploads.client.post(
        "/api/v1/eeg/upload",
        files={"file": ("damaged.edf", data)},
        headers=uploads.user.headers,
    )
    assert r.status_code < 500, r.text
    body = r.json()
    if r.status_code == 200:
        uploads.accepted.add(body["file_id"])
        return
    assert 400 <= r.status_code < 500 and body["error"] and body["message"], body
    uploads.refused[body["error"]] = uploads.refused.get(body["error"], 0) + 1


def test_nothing_is_left_behind_by_a_refused_upload(stack: Settings, uploads: Uploads) -> None:
    assert sum(uploads.refused.values()) >= 100, uploads.refused  # the damage was real
    in_db, in_s3 = _stored(stack, uploads.user)
    assert in_db == uploads.accepted == in_s3
    with psycopg.connect(stack.postgres_url) as conn:
        (orphans,) = conn.execute(
            "SELECT count(*) FROM patient_identities p LEFT JOIN uploaded_files f USING (file_id)"
            " WHERE f.file_id IS NULL"
        ).fetchone()
    assert orphans == 0
