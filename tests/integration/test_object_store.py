"""The object store against the real S3 server (versitygw in the local stack)."""

from __future__ import annotations

import io
import time
import uuid

import numpy as np
import pytest

from connectors.object_store import (
    IntegrityError,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreUnavailableError,
    sha256_hex,
)
from connectors.settings import Settings
from tests.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(stack: Settings) -> ObjectStore:
    store = ObjectStore.from_settings(stack)
    store.ensure_bucket()
    return store


def test_bucket_is_created_once_and_again_is_harmless(stack: Settings, unique_name: str) -> None:
    other = ObjectStore(
        stack.s3_endpoint, stack.s3_access_key, stack.s3_secret_key, unique_name,
        region=stack.s3_region,
    )  # fmt: skip
    assert not other.client.bucket_exists(unique_name)
    other.ensure_bucket()
    other.ensure_bucket()
    assert other.client.bucket_exists(unique_name)
    other.client.remove_bucket(unique_name)


def test_close_releases_the_connections_and_the_store_still_works(stack: Settings) -> None:
    store = ObjectStore.from_settings(stack)
    key = f"results/{uuid.uuid4().hex}/complete.json"
    store.put(key, b"{}")
    assert store._http.pools  # a pooled connection to the server
    store.close()
    assert not store._http.pools
    assert store.get(key) == b"{}"  # a closed store reconnects when used again
    store.delete(key)
    store.close()


def test_raw_upload_round_trip_with_content_hash(store: ObjectStore) -> None:
    file_id = uuid.uuid4().hex
    data = np.random.default_rng(1).bytes(300_000)  # a small EDF-sized blob
    stored = store.put_raw(file_id, "night.edf", data)
    assert stored.key == f"raw/{file_id}/night.edf"
    assert stored.sha256 == sha256_hex(data) and stored.size_bytes == len(data)
    assert store.get(stored.key) == data
    info = store.stat(stored.key)
    assert (info.sha256, info.size_bytes) == (stored.sha256, len(data))
    assert store.exists(stored.key)
    assert list(store.list(f"raw/{file_id}/")) == [stored.key]
    store.delete(stored.key)
    assert not store.exists(stored.key)
    with pytest.raises(ObjectNotFoundError, match=stored.key):
        store.get(stored.key)


def test_results_and_features_round_trip(store: ObjectStore) -> None:
    job_id, file_id = uuid.uuid4().hex, uuid.uuid4().hex
    result = {"job_id": job_id, "abnormality": {"is_abnormal": False, "confidence": 0.7}}
    assert store.put_result(job_id, result).key == f"results/{job_id}/complete.json"
    assert store.get_result(job_id) == result
    features = np.random.default_rng(2).standard_normal((4, 512)).astype(np.float32)
    for window in range(3):
        store.put_features(file_id, window, features + window)
    assert np.array_equal(store.get_features(file_id, 2), features + 2)
    assert sorted(store.list(f"features/{file_id}/")) == [
        f"features/{file_id}/{w}.npy" for w in range(3)
    ]
    assert store.delete_prefix(f"features/{file_id}/") == 3
    assert list(store.list(f"features/{file_id}/")) == []
    store.delete(f"results/{job_id}/complete.json")


def test_content_changed_behind_our_back_is_caught(store: ObjectStore) -> None:
    key = f"raw/{uuid.uuid4().hex}/tampered.edf"
    store.client.put_object(
        store.bucket, key, io.BytesIO(b"new bytes"), 9, metadata={"sha256": sha256_hex(b"old")}
    )
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        store.get(key)
    assert store.get(key, verify=False) == b"new bytes"
    store.delete(key)


def test_server_down_says_which_endpoint_and_what_to_do(stack: Settings) -> None:
    port = free_port()
    down = ObjectStore(
        f"127.0.0.1:{port}",
        stack.s3_access_key,
        stack.s3_secret_key,
        stack.s3_bucket,
        timeout_s=0.5,
    )
    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailableError, match=f"127.0.0.1:{port}.*brrr stack up"):
        down.get("raw/x/y.edf")
    assert time.monotonic() - started < 5.0


def test_wrong_credentials_are_named(stack: Settings) -> None:
    wrong = ObjectStore(stack.s3_endpoint, stack.s3_access_key, "not-the-secret", stack.s3_bucket)
    with pytest.raises(ObjectStoreUnavailableError, match="BRRR_S3_SECRET_KEY"):
        wrong.get("raw/x/y.edf")
