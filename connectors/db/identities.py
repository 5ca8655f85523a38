"""The encrypted patient identity of an uploaded file (``patient_identities``).

Written in the caller's transaction, beside the file's row, so that an upload stores both or
neither::

    async with conn.transaction():
        await jobs.register_upload(conn, file_id=..., ...)
        await identities.store_identity(conn, file_id, seal_identity(identity, file_id, ring))

Only ciphertext is stored (:mod:`connectors.phi`); reading it back for a user goes through
:func:`owned_identity`, which answers None for a file that is not theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from psycopg import AsyncConnection

from connectors.phi import KeyRing, SealedIdentity, open_identity, seal_identity

_COLUMNS = "key_id, nonce, ciphertext, scheme"


async def store_identity(
    conn: AsyncConnection, file_id: str | uuid.UUID, sealed: SealedIdentity
) -> None:
    """Store the sealed identity of a registered file (in the caller's transaction; the
    file's row must exist). A file keeps the identity it was first stored with."""
    await conn.execute(
        f"INSERT INTO patient_identities (file_id, {_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (file_id) DO NOTHING",
        (file_id, sealed.key_id, sealed.nonce, sealed.ciphertext, sealed.scheme),
    )


async def sealed_identity(conn: AsyncConnection, file_id: str | uuid.UUID) -> SealedIdentity | None:
    """The sealed identity of a file, or None when none was stored."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM patient_identities WHERE file_id = %s", (file_id,)
    )
    return _sealed(await cur.fetchone())


@dataclass(frozen=True)
class OwnedFile:
    """A file of the asking user, with its sealed identity (None: none was stored)."""

    file_id: uuid.UUID
    sealed: SealedIdentity | None


async def owned_identity(
    conn: AsyncConnection, file_id: str | uuid.UUID, user_id: uuid.UUID
) -> OwnedFile | None:
    """The file ``file_id`` with its sealed identity if ``user_id`` uploaded it; None when
    it does not exist or is another user's (the API answers both alike: 404)."""
    cur = await conn.execute(
        "SELECT f.file_id, p.key_id, p.nonce, p.ciphertext, p.scheme"
        "  FROM uploaded_files f LEFT JOIN patient_identities p USING (file_id)"
        " WHERE f.file_id = %s AND f.uploaded_by = %s",
        (file_id, user_id),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return OwnedFile(file_id=row[0], sealed=_sealed(row[1:] if row[1] is not None else None))


async def reseal_identities(conn: AsyncConnection, ring: KeyRing, *, limit: int = 1000) -> int:
    """Re-encrypt up to ``limit`` identities sealed under one of the ring's other keys with
    its active one (key rotation); the caller commits. Returns how many were resealed: call
    again until 0, then the retired keys can leave ``BRRR_PHI_KEYS``. Rows under a key the
    ring does not hold are left as they are (they cannot be opened)."""
    retired = [key_id for key_id in ring.keys if key_id != ring.active]
    cur = await conn.execute(
        f"SELECT file_id, {_COLUMNS} FROM patient_identities WHERE key_id = ANY(%s)"
        " ORDER BY file_id LIMIT %s FOR UPDATE SKIP LOCKED",
        (retired, limit),
    )
    rows = await cur.fetchall()
    for file_id, *sealed_row in rows:
        identity = open_identity(_sealed(sealed_row), file_id, ring)
        sealed = seal_identity(identity, file_id, ring)
        await conn.execute(
            "UPDATE patient_identities SET key_id = %s, nonce = %s, ciphertext = %s,"
            " scheme = %s, sealed_at = now() WHERE file_id = %s",
            (sealed.key_id, sealed.nonce, sealed.ciphertext, sealed.scheme, file_id),
        )
    return len(rows)


def _sealed(row: tuple | None) -> SealedIdentity | None:
    if row is None:
        return None
    key_id, nonce, ciphertext, scheme = row
    return SealedIdentity(
        key_id=key_id, nonce=bytes(nonce), ciphertext=bytes(ciphertext), scheme=scheme
    )
