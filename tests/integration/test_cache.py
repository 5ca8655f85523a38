"""The two-level cache against the real Redis and S3 server: fill-through, invalidation
cascade, counters, and Redis down."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pytest
from prometheus_client import REGISTRY

from connectors.cache import REDIS_PREFIX, TwoLevelCache
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from tests.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(stack: Settings) -> ObjectStore:
    store = ObjectStore.from_settings(stack)
    store.ensure_bucket()
    return store


@pytest.fixture
def cache(stack: Settings, store: ObjectStore) -> TwoLevelCache:
    return TwoLevelCache(store, stack.redis_url, ttl_s=120)


def features(window: int) -> np.ndarray:
    return np.full((4, 512), window, dtype=np.float32)


def counter(level: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "brrr_cache_requests_total", {"level": level, "outcome": outcome}
    )
    return value or 0.0


def test_redis_miss_that_hits_s3_fills_redis(cache: TwoLevelCache) -> None:
    file_id = uuid.uuid4().hex
    cache.put_features(file_id, 0, features(0))
    key = f"features/{file_id}/0.npy"
    assert cache.redis.ttl(REDIS_PREFIX + key) > 0  # written with an expiry

    cache.redis.delete(REDIS_PREFIX + key)  # expired, say
    s3_hits = counter("s3", "hit")
    assert np.array_equal(cache.get_features(file_id, 0), features(0))
    assert cache.stats()["redis_miss"] == 1 and cache.stats()["s3_hit"] == 1
    assert counter("s3", "hit") == s3_hits + 1
    assert 0 < cache.redis.ttl(REDIS_PREFIX + key) <= 120  # filled again

    cache.store.delete(key)  # now only Redis has it: the next read must not touch S3
    assert np.array_equal(cache.get_features(file_id, 0), features(0))
    assert cache.stats()["redis_hit"] == 1 and cache.stats()["s3_hit"] == 1

    assert cache.get_features(uuid.uuid4().hex, 0) is None
    assert cache.stats()["redis_miss"] == 2 and cache.stats()["s3_miss"] == 1
    cache.invalidate_file(file_id)


def test_invalidate_file_removes_everything_derived_from_it(cache: TwoLevelCache) -> None:
    file_id, other_file = uuid.uuid4().hex, uuid.uuid4().hex
    jobs = [uuid.uuid4().hex, uuid.uuid4().hex]
    cache.put_raw(file_id, "night.edf", b"EDF bytes")
    for window in range(5):
        cache.put_features(file_id, window, features(window))
    for job_id in jobs:
        cache.put_result(job_id, file_id, {"job_id": job_id, "triage": "routine"})
    cache.put_raw(other_file, "day.edf", b"other EDF")
    cache.put_result("job-of-other-file", other_file, {"triage": "urgent"})
    # lose part of the Redis index: S3's markers must still find the results
    cache.redis.srem(f"{REDIS_PREFIX}derived:{file_id}", f"results/{jobs[0]}/complete.json")

    assert cache.invalidate_file(file_id) == 1 + 5 + 2

    assert cache.get_raw(file_id, "night.edf") is None
    assert all(cache.get_features(file_id, w) is None for w in range(5))
    assert all(cache.get_result(j) is None for j in jobs)
    assert list(cache.store.list(f"raw/{file_id}/")) == []
    assert list(cache.store.list(f"features/{file_id}/")) == []
    assert list(cache.store.list(f"derived/{file_id}/")) == []
    assert cache.redis.keys(f"{REDIS_PREFIX}*{file_id}*") == []
    for job_id in jobs:
        assert not cache.redis.exists(f"{REDIS_PREFIX}results/{job_id}/complete.json")
    # the other file's entries are untouched
    assert cache.get_raw(other_file, "day.edf") == b"other EDF"
    assert cache.get_result("job-of-other-file") == {"triage": "urgent"}
    assert cache.invalidate_file(file_id) == 0
    cache.invalidate_file(other_file)


def test_redis_down_degrades_to_s3_with_a_warning(
    store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    cache = TwoLevelCache(store, f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    file_id = uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="connectors.cache"):
        cache.put_result("job-" + file_id, file_id, {"ok": True})
        assert cache.get_result("job-" + file_id) == {"ok": True}
        assert cache.invalidate_file(file_id) == 1
        assert cache.get_result("job-" + file_id) is None
    stats = cache.stats()
    assert stats["redis_error"] >= 3 and stats["redis_hit"] == 0
    assert stats["s3_hit"] == 1 and stats["s3_miss"] == 1
    warnings = [r for r in caplog.records if f"127.0.0.1:{port}" in r.getMessage()]
    assert len(warnings) == 1 and "serving from S3 only" in warnings[0].getMessage()
