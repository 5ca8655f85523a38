"""An upload, from the request to the object store and PostgreSQL, all or nothing.

1. :func:`receive`: the multipart file is copied to a temporary file in chunks (never whole in
   memory), hashed on the way, and refused past the configured size limit.
2. :func:`check_recording`: the project's reader (``processors.io``, the same the worker
   uses) reads the whole file: not EDF/BDF, empty, no scalp EEG, too short, NaNs... each is
   refused with the reader's message. This is the one place the API reads EEG: a file the
   worker would refuse is refused here, by the same rules, before anything is stored.
3. :func:`store_upload`: the header's patient identifiers are blanked in the file
   (:func:`connectors.deidentify.scrub_edf_header`), the file goes to S3 under
   ``raw/{file_id}/{name}``, then its rows to PostgreSQL in one transaction, with the
   identifiers sealed (AES-GCM, :mod:`connectors.phi`) and the patient's keyed reference;
   when that fails the object is removed again. No readable identifier is stored anywhere.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import UploadFile
from psycopg import AsyncConnection
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from connectors.db.identities import store_identity
from connectors.db.jobs import register_recording, register_upload
from connectors.deidentify import scrub_edf_header, scrub_text
from connectors.object_store import ObjectStore, raw_key
from connectors.phi import KeyRing, patient_ref_of, seal_identity
from processors.errors import EEGError
from processors.io import content_id, read_edf_header, read_recording

#: Bytes read from the request at a time.
CHUNK_BYTES = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file on local disk."""

    path: Path
    filename: str
    size_bytes: int
    #: of the bytes the client sent
    sha256: str


@dataclass(frozen=True)
class CheckedRecording:
    """What the reader found in an uploaded file."""

    channels: list[str]
    sampling_rate_hz: float
    duration_s: float
    start_time: datetime | None


class UploadRefused(ApiError):
    """A file that is not stored, with the reason (4xx)."""


async def receive(upload: UploadFile, folder: Path, max_bytes: int) -> ReceivedFile:
    """Copy the upload to ``folder`` in chunks, hashing it; refuse it past ``max_bytes``.

    Raises
    ------
    UploadRefused
        413 when the file is larger than ``max_bytes``; 422 when it is empty.
    """
    filename = Path(upload.filename or "upload.edf").name
    digest = hashlib.sha256()
    size = 0
    path = folder / "upload"
    with path.open("wb") as out:
        while chunk := await upload.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise UploadRefused(
                    413,
                    "file_too_large",
                    f"{filename} is larger than the upload limit of {max_bytes / 2**20:.0f} MiB "
                    "(BRRR_UPLOAD_MAX_BYTES): split the recording, or ask the administrator "
                    "to raise the limit",
                )
            digest.update(chunk)
            await run_in_threadpool(out.write, chunk)
    if size == 0:
        raise UploadRefused(
            422, "not_an_eeg_file", f"{filename} is empty (0 bytes): upload the recording again"
        )
    # The reader (MNE) goes by the extension: name the file by its header's format.
    with path.open("rb") as fid:
        suffix = ".bdf" if fid.read(1) == b"\xff" else ".edf"
    path = path.rename(path.with_suffix(suffix))
    return ReceivedFile(path, filename, size, digest.hexdigest())


def check_recording(received: ReceivedFile) -> CheckedRecording:
    """Read the whole file with the project's reader (blocking: run it in a thread).

    Raises
    ------
    UploadRefused
        422 with the reader's error code and message.
    """
    try:
        read_edf_header(received.path)  # EDF/BDF only (the reader also takes FIF)
        recording = read_recording(received.path)
    except EEGError as exc:
        raise UploadRefused(422, exc.code, f"{received.filename}: {exc}") from None
    return CheckedRecording(
        channels=list(recording.ch_names),
        sampling_rate_hz=float(recording.sfreq_hz),
        duration_s=float(recording.duration_s),
        start_time=recording.start_time,
    )


def object_name(filename: str) -> str:
    """The file's name as an object key segment: unsafe characters become ``_``."""
    stem = _UNSAFE.sub("_", filename).strip("._") or "upload.edf"
    return stem[-200:]


async def store_upload(
    conn: AsyncConnection,
    store: ObjectStore,
    received: ReceivedFile,
    checked: CheckedRecording,
    *,
    owner_id: uuid.UUID,
    phi_keys: KeyRing,
    patient_ref_key: bytes,
) -> str:
    """Scrub the file's identifiers, store it in S3 and register it (its recording, its
    sealed identity) for ``owner_id``.

    Returns
    -------
    str
        The new file id. On any failure nothing is left: the rows roll back and the object
        is deleted.
    """
    file_id = str(uuid.uuid4())
    identity = await run_in_threadpool(scrub_edf_header, received.path)
    # File names often carry the patient's name: stored without the header's identifiers.
    filename = scrub_text(received.filename, identity)
    key = raw_key(file_id, object_name(filename))
    sealed = seal_identity(identity, file_id, phi_keys)
    patient_ref = patient_ref_of(identity.patient, patient_ref_key)
    # The recording id is the stored (scrubbed) content's, as the worker will compute it.
    recording_id = await run_in_threadpool(content_id, received.path)
    stored_sha256 = await run_in_threadpool(_sha256_of, received.path)
    await run_in_threadpool(store.put_file, key, received.path, stored_sha256)
    try:
        async with conn.transaction():
            await register_upload(
                conn,
                file_id=file_id,
                filename=filename,
                object_key=key,
                sha256=stored_sha256,
                size_bytes=received.path.stat().st_size,
                patient_ref=patient_ref,
                uploaded_by=str(owner_id),
            )
            await store_identity(conn, file_id, sealed)
            await register_recording(
                conn,
                recording_id=recording_id,
                source="upload",
                file_id=file_id,
                patient_ref=patient_ref,
                start_time=checked.start_time,
                duration_s=checked.duration_s,
                sfreq_hz=checked.sampling_rate_hz,
                ch_names=checked.channels,
            )
    except BaseException:
        await run_in_threadpool(store.delete, key)
        raise
    return file_id


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fid:
        while chunk := fid.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
