"""Encrypted patient identities in PostgreSQL: stored with the file's row in one
transaction, read back decrypted by the file's owner only (another user gets the same 404 as
for a file that does not exist), resealed under a new key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from pydantic import SecretStr

from api.app import create_app
from connectors.db.identities import reseal_identities, sealed_identity, store_identity
from connectors.db.migrate import migrate
from connectors.phi import HeaderIdentity, KeyRing, open_identity, seal_identity
from connectors.settings import Settings
from processors.types import PatientIdentity
from tests.integration.api_client import Login, bearer_of, new_user
from tests.integration.api_client import app_client as _client

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
session_loop = pytest.mark.asyncio(loop_scope="session")

IDENTITY = HeaderIdentity(
    patient=PatientIdentity(patient_code="MRN-4242", name="Ottilie Vandersloot", sex="F"),
    patient_field="MRN-4242 F X Ottilie_Vandersloot",
    recording_field="Startdate 06-MAY-2024 X X X",
)

# Key ids of this module's own (unique per run): resealing touches this run's rows only.
RUN = uuid.uuid4().hex[:8]
OLD, NEW = f"it-{RUN}-old", f"it-{RUN}-new"
KEYS = {
    OLD: base64.b64encode(os.urandom(32)).decode(),
    NEW: base64.b64encode(os.urandom(32)).decode(),
}


def _ring(active: str) -> KeyRing:
    return KeyRing.parse(",".join(f"{k}:{v}" for k, v in KEYS.items()), active)


@pytest.fixture(scope="module")
def phi_settings(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    spec = ",".join(f"{k}:{v}" for k, v in KEYS.items())
    return stack.model_copy(update={"phi_keys": SecretStr(spec), "phi_active_key": OLD})


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(phi_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(create_app(phi_settings)):
        yield c


async def _register_file(
    conn: psycopg.AsyncConnection, owner: uuid.UUID, identity: HeaderIdentity | None, ring: KeyRing
) -> uuid.UUID:
    """A file's row and its sealed identity, in one transaction (as the upload does)."""
    file_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO uploaded_files (file_id, filename, object_key, sha256, size_bytes,"
            " uploaded_by) VALUES (%s, 'p.edf', %s, %s, 10, %s)",
            (file_id, f"raw/{file_id}/p.edf", "0" * 64, owner),
        )
        if identity is not None:
            await store_identity(conn, file_id, seal_identity(identity, file_id, ring))
    return file_id


@session_loop
async def test_owner_reads_the_identity_others_get_404(
    client: httpx.AsyncClient, phi_settings: Settings
) -> None:
    owner = await new_user(phi_settings.postgres_url)
    other = await new_user(phi_settings.postgres_url)
    async with await psycopg.AsyncConnection.connect(phi_settings.postgres_url) as conn:
        file_id = await _register_file(conn, owner.user.user_id, IDENTITY, _ring(OLD))
        bare_id = await _register_file(conn, owner.user.user_id, None, _ring(OLD))
        stored = await (
            await conn.execute(
                "SELECT key_id, nonce, ciphertext FROM patient_identities WHERE file_id = %s",
                (file_id,),
            )
        ).fetchone()
    assert stored[0] == OLD
    assert b"Vandersloot" not in bytes(stored[2]) and b"MRN-4242" not in bytes(stored[2])

    url = f"/api/v1/eeg/files/{file_id}/patient"
    r = await client.get(url, headers=await bearer_of(client, owner))
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["file_id"] == str(file_id)
    assert body["name"] == "Ottilie Vandersloot" and body["patient_code"] == "MRN-4242"
    assert body["sex"] == "F" and body["birthdate"] is None
    assert body["patient_field"] == IDENTITY.patient_field
    assert body["recording_field"] == IDENTITY.recording_field

    foreign = await client.get(url, headers=await bearer_of(client, other))
    unknown_id = uuid.uuid4()
    unknown = await client.get(
        f"/api/v1/eeg/files/{unknown_id}/patient", headers=await bearer_of(client, other)
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"] == unknown.json()["error"] == "file_not_found"
    assert foreign.json()["message"].replace(str(file_id), "ID") == unknown.json()[
        "message"
    ].replace(str(unknown_id), "ID")

    odd = await client.get(
        "/api/v1/eeg/files/file-1234/patient", headers=await bearer_of(client, owner)
    )
    assert odd.status_code == 404 and odd.json()["error"] == "file_not_found"
    assert (await client.get(url)).status_code == 401
    none = await client.get(
        f"/api/v1/eeg/files/{bare_id}/patient", headers=await bearer_of(client, owner)
    )
    assert none.status_code == 404 and none.json()["error"] == "patient_identity_not_found"


@session_loop
async def test_identity_and_file_row_are_stored_together_or_not_at_all(
    phi_settings: Settings, client: httpx.AsyncClient
) -> None:
    owner: Login = await new_user(phi_settings.postgres_url)
    file_id = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(phi_settings.postgres_url) as conn:
        with pytest.raises(RuntimeError, match="S3 upload failed"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO uploaded_files (file_id, filename, object_key, sha256,"
                    " size_bytes, uploaded_by) VALUES (%s, 'p.edf', 'k', %s, 10, %s)",
                    (file_id, "0" * 64, owner.user.user_id),
                )
                await store_identity(conn, file_id, seal_identity(IDENTITY, file_id, _ring(OLD)))
                raise RuntimeError("S3 upload failed")
        assert await sealed_identity(conn, file_id) is None
        row = await (
            await conn.execute("SELECT 1 FROM uploaded_files WHERE file_id = %s", (file_id,))
        ).fetchone()
        assert row is None
        # and an identity without its file is refused by the database
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with conn.transaction():
                await store_identity(conn, file_id, seal_identity(IDENTITY, file_id, _ring(OLD)))


async def _files_sealed_under(settings: Settings, key_id: str, n: int) -> list[uuid.UUID]:
    """``n`` files of a new user, their identities sealed under ``key_id`` (committed)."""
    owner = await new_user(settings.postgres_url)
    async with await psycopg.AsyncConnection.connect(settings.postgres_url) as conn:
        return [
            await _register_file(conn, owner.user.user_id, IDENTITY, _ring(key_id))
            for _ in range(n)
        ]


@session_loop
async def test_reseal_moves_rows_to_the_active_key(phi_settings: Settings) -> None:
    file_ids = await _files_sealed_under(phi_settings, OLD, 3)
    async with await psycopg.AsyncConnection.connect(phi_settings.postgres_url) as conn:
        assert await reseal_identities(conn, _ring(NEW), limit=2) == 2
        assert await reseal_identities(conn, _ring(NEW)) >= 1
        assert await reseal_identities(conn, _ring(NEW)) == 0
        await conn.commit()
        only_new = KeyRing.parse(f"{NEW}:{KEYS[NEW]}", NEW)
        for file_id in file_ids:
            sealed = await sealed_identity(conn, file_id)
            assert sealed is not None and sealed.key_id == NEW
            assert open_identity(sealed, file_id, only_new) == IDENTITY


def _brrr_phi_reseal(active: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BRRR_PHI_KEYS": ",".join(f"{k}:{v}" for k, v in KEYS.items()),
        "BRRR_PHI_ACTIVE_KEY": active,
    }
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "phi", "reseal", "--batch", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@session_loop
async def test_brrr_phi_reseal(phi_settings: Settings) -> None:
    file_ids = await _files_sealed_under(phi_settings, NEW, 3)
    done = _brrr_phi_reseal(OLD)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[1]) >= 3 and f"under key {OLD}" in done.stdout
    async with await psycopg.AsyncConnection.connect(phi_settings.postgres_url) as conn:
        for file_id in file_ids:
            sealed = await sealed_identity(conn, file_id)
            assert sealed is not None and sealed.key_id == OLD
    assert "resealed 0 " in _brrr_phi_reseal(OLD).stdout
    refused = _brrr_phi_reseal("nowhere")
    assert refused.returncode == 1 and "BRRR_PHI_ACTIVE_KEY is 'nowhere'" in refused.stderr
