"""The S3 object store: raw uploads, complete results and cached features.

Speaks plain S3 through the ``minio`` client, so any S3 server works (the local stack runs
versitygw). Keys:

- ``raw/{file_id}/{filename}``: an uploaded recording, as uploaded;
- ``results/{job_id}/complete.json``: a job's complete result document;
- ``features/{file_id}/{window_index}.npy``: EEGPT features of one window (``np.save``).

Every object carries the sha256 of its content in its metadata (``x-amz-meta-sha256``),
returned by :meth:`ObjectStore.put` and checked by :meth:`ObjectStore.get`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from connectors.settings import Settings

SHA256_META = "sha256"
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class ObjectStoreError(Exception):
    """Base of the object store's errors; ``code`` is stable for logs and answers."""

    code = "object_store_error"


class ObjectStoreUnavailableError(ObjectStoreError):
    """The S3 server does not answer, or refuses the credentials."""

    code = "object_store_unavailable"


class ObjectNotFoundError(ObjectStoreError):
    """No object under that key."""

    code = "object_not_found"


class IntegrityError(ObjectStoreError):
    """An object's content does not match the sha256 recorded when it was written."""

    code = "object_corrupt"


class InvalidKeyError(ObjectStoreError, ValueError):
    """An id or file name that cannot be part of an object key."""

    code = "invalid_object_key"


@dataclass(frozen=True)
class StoredObject:
    """What the store knows of one object."""

    key: str
    size_bytes: int
    sha256: str | None
    content_type: str | None = None


def raw_key(file_id: str, filename: str) -> str:
    """Key of an uploaded recording."""
    return f"raw/{key_segment(file_id, 'file_id')}/{key_segment(filename, 'filename')}"


def result_key(job_id: str) -> str:
    """Key of a job's complete result."""
    return f"results/{key_segment(job_id, 'job_id')}/complete.json"


def report_key(job_id: str) -> str:
    """Key of a job's report plot (the PNG ``brrr analyze --plot`` draws)."""
    return f"results/{key_segment(job_id, 'job_id')}/report.png"


def features_key(file_id: str, window_index: int) -> str:
    """Key of one window's features."""
    if int(window_index) < 0:
        raise InvalidKeyError(f"window_index must be >= 0, got {window_index}")
    return f"features/{key_segment(file_id, 'file_id')}/{int(window_index)}.npy"


def key_segment(value: str, what: str) -> str:
    """``value`` if it can be one segment of an object key, else :class:`InvalidKeyError`."""
    if not _SEGMENT_RE.match(value) or ".." in value:
        raise InvalidKeyError(
            f"{what} {value!r} cannot be part of an object key: use letters, digits, '.', "
            "'_' and '-' only (no '/' or '..'), at most 200 characters"
        )
    return value


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class ObjectStore:
    """One bucket of an S3 server.

    Parameters
    ----------
    endpoint : str
        ``host:port`` of the S3 server.
    access_key, secret_key : str
        Credentials.
    bucket : str
        Bucket holding every object.
    secure : bool
        HTTPS rather than HTTP.
    region : str
        Region name the server expects in signatures.
    timeout_s : float
        Connect timeout; the read timeout is ten times longer.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        timeout_s: float = 3.0,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        # Few retries and short timeouts: a server that is down should be reported in
        # seconds, not after minio's default of five retries with back-off.
        self._http = http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=10 * timeout_s),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
            maxsize=10,
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """The store configured by ``BRRR_S3_*``."""
        return cls(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )

    def close(self) -> None:
        """Close the pooled HTTP connections (the store opens new ones if used again)."""
        self._http.clear()

    # --- bucket ---------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (safe to call at every start)."""
        with self._errors("create bucket"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Another worker created it between the two calls.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    # --- objects --------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """Store ``data`` under ``key``, its sha256 in the metadata; returns what was stored."""
        digest = sha256_hex(data)
        meta = {**(metadata or {}), SHA256_META: digest}
        with self._errors(f"put {key}"):
            self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type, metadata=meta
            )
        return StoredObject(key, len(data), digest, content_type)

    def put_file(
        self,
        key: str,
        path: Path,
        sha256: str,
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Store the file at ``path`` under ``key``, streamed from disk (never whole in
        memory); ``sha256`` is its digest, recorded in the metadata."""
        size = path.stat().st_size
        with self._errors(f"put {key}"), path.open("rb") as stream:
            self.client.put_object(
                self.bucket,
                key,
                stream,
                size,
                content_type,
                metadata={SHA256_META: sha256},
                part_size=16 * 1024 * 1024,
            )
        return StoredObject(key, size, sha256, content_type)

    def get(self, key: str, verify: bool = True) -> bytes:
        """The content under ``key``; with ``verify``, checked against its recorded sha256.

        Raises
        ------
        ObjectNotFoundError
            When there is no such object.
        IntegrityError
            When the content does not match its recorded sha256.
        """
        with self._errors(f"get {key}"):
            response = self.client.get_object(self.bucket, key)
            try:
                data = response.read()
                recorded = response.headers.get(f"x-amz-meta-{SHA256_META}")
            finally:
                response.close()
                response.release_conn()
        if verify and recorded and sha256_hex(data) != recorded:
            raise IntegrityError(
                f"object {key} in bucket {self.bucket} does not match its recorded sha256 "
                f"{recorded}: it was changed outside Brain-Go-Brrr; upload it again"
            )
        return data

    def stat(self, key: str) -> StoredObject:
        """Size, sha256 and content type of the object under ``key``."""
        with self._errors(f"stat {key}"):
            info = self.client.stat_object(self.bucket, key)
        meta = info.metadata or {}
        return StoredObject(
            key,
            int(info.size or 0),
            meta.get(f"x-amz-meta-{SHA256_META}"),
            info.content_type,
        )

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` (no error when there is none)."""
        with self._errors(f"delete {key}"):
            self.client.remove_object(self.bucket, key)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix``, recursively, in key order."""
        with self._errors(f"list {prefix}"):
            objects = list(self.client.list_objects(self.bucket, prefix=prefix, recursive=True))
        for obj in objects:
            yield obj.object_name

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; returns how many there were."""
        if not prefix or not prefix.endswith("/"):
            raise InvalidKeyError(
                f"delete_prefix takes a folder prefix ending in '/', got {prefix!r}"
            )
        return self.delete_many(list(self.list(prefix)))

    def delete_many(self, keys: list[str]) -> int:
        """Remove the objects under ``keys`` in bulk; returns how many were asked."""
        if not keys:
            return 0
        with self._errors(f"delete {len(keys)} objects"):
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))
        if errors:
            raise ObjectStoreError(
                f"could not delete {len(errors)} objects, first {errors[0].name}: "
                f"{errors[0].message}"
            )
        return len(keys)

    # --- typed helpers --------------------------------------------------------------------------

    def put_raw(
        self,
        file_id: str,
        filename: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Store an uploaded recording under ``raw/{file_id}/{filename}``."""
        return self.put(raw_key(file_id, filename), data, content_type)

    def put_result(self, job_id: str, result: dict[str, Any]) -> StoredObject:
        """Store a job's complete result as JSON under ``results/{job_id}/complete.json``."""
        return self.put(result_key(job_id), encode_json(result), "application/json")

    def get_result(self, job_id: str) -> dict[str, Any]:
        """A job's complete result."""
        return json.loads(self.get(result_key(job_id)))

    def put_report(self, job_id: str, png: bytes) -> StoredObject:
        """Store a job's report plot under ``results/{job_id}/report.png``."""
        return self.put(report_key(job_id), png, "image/png")

    def get_report(self, job_id: str) -> bytes:
        """A job's report plot (PNG)."""
        return self.get(report_key(job_id))

    def put_features(self, file_id: str, window_index: int, features: np.ndarray) -> StoredObject:
        """Store one window's features under ``features/{file_id}/{window_index}.npy``."""
        return self.put(features_key(file_id, window_index), encode_array(features))

    def get_features(self, file_id: str, window_index: int) -> np.ndarray:
        """One window's features."""
        return decode_array(self.get(features_key(file_id, window_index)))

    # --- errors ---------------------------------------------------------------------------------

    def _errors(self, action: str) -> _TranslateErrors:
        return _TranslateErrors(self, action)


class _TranslateErrors:
    """Turns minio and urllib3 exceptions into the store's typed errors."""

    def __init__(self, store: ObjectStore, action: str) -> None:
        self.store = store
        self.action = action
        # "get raw/f/x.edf" -> "raw/f/x.edf": servers do not all name the object in errors
        self.key = action.split(" ", 1)[-1]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, ObjectStoreError):
            return False
        where = f"S3 server at {self.store.endpoint} (bucket {self.store.bucket})"
        if isinstance(exc, S3Error):
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFoundError(
                    f"no object {exc.object_name or self.key} in bucket {self.store.bucket}"
                ) from None
            if exc.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
                raise ObjectStoreUnavailableError(
                    f"{where} refused the credentials on {self.action} ({exc.code}): check "
                    "BRRR_S3_ACCESS_KEY and BRRR_S3_SECRET_KEY"
                ) from None
            if exc.code == "NoSuchBucket":
                raise ObjectStoreUnavailableError(
                    f"{where}: no such bucket on {self.action}; call ensure_bucket() at start"
                ) from None
            raise ObjectStoreError(f"{where} answered {exc.code} on {self.action}: {exc.message}")
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            raise ObjectStoreUnavailableError(
                f"{where} does not answer on {self.action} ({type(exc).__name__}); start the "
                "local stack with `brrr stack up`, or set BRRR_S3_ENDPOINT to a running server"
            ) from None
        return False


def encode_json(document: dict[str, Any]) -> bytes:
    """JSON bytes of a result document (sorted keys, so equal documents hash equal)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def encode_array(array: np.ndarray) -> bytes:
    """``.npy`` bytes of an array (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    """The array of ``.npy`` bytes."""
    return np.load(io.BytesIO(data), allow_pickle=False)
