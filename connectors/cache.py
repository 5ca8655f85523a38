"""A two-level cache: Redis first (entries expire), the S3 object store second.

A read tries Redis, then S3; a miss in Redis that hits S3 fills Redis again. A write goes to
both. Every entry is derived from one uploaded file (its raw bytes, the features of each of
its windows, the results of the jobs run on it), and :meth:`TwoLevelCache.invalidate_file`
removes all of them from both levels.

The index of what derives from a file is kept twice, so invalidation does not depend on
Redis alone: a Redis set per file (``brrr:cache:derived:{file_id}``), and, in S3, the key
prefixes of the file (``raw/{file_id}/``, ``features/{file_id}/``) plus one empty marker
object per other derived key (``derived/{file_id}/{key}``, e.g. a job's result).

If Redis is down the cache carries on with S3 alone and logs a warning (once a minute),
rather than failing the request. Hits and misses are counted per level in Prometheus
counters (``brrr_cache_requests_total``) and in :meth:`TwoLevelCache.stats`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter as CountDict
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import numpy as np
import redis
from prometheus_client import Counter

from connectors.db import redact_url
from connectors.object_store import (
    ObjectNotFoundError,
    ObjectStore,
    StoredObject,
    decode_array,
    encode_array,
    encode_json,
    features_key,
    key_segment,
    raw_key,
    result_key,
)

log = logging.getLogger(__name__)

REDIS_PREFIX = "brrr:cache:"
DERIVED_PREFIX = "derived/"
DEFAULT_TTL_S = 3600
#: What a Redis call answers when Redis is down (the cache then uses S3 alone).
REDIS_DOWN = object()
T = TypeVar("T")

CACHE_REQUESTS = Counter(
    "brrr_cache_requests_total",
    "Cache lookups by level (redis, s3) and outcome (hit, miss, error).",
    ["level", "outcome"],
)
CACHE_HITS = Counter("cache_hits_total", "Cache lookups answered, by level (redis, s3).", ["level"])
CACHE_MISSES = Counter(
    "cache_misses_total", "Cache lookups not answered (miss or error), by level.", ["level"]
)


#: Which level of the cache answered.
CacheLevel = Literal["redis", "s3"]


class TwoLevelCache:
    """Redis in front of the object store.

    Parameters
    ----------
    store : ObjectStore
        The second level, and where every entry lives durably.
    redis_url : str
        The first level; entries there expire after ``ttl_s``. Kept as ``redis_url`` with
        its password redacted, for messages.
    ttl_s : int
        Lifetime of a Redis entry, seconds.
    timeout_s : float
        Redis connect and read timeout: a Redis that does not answer costs at most this.
    """

    def __init__(
        self,
        store: ObjectStore,
        redis_url: str,
        ttl_s: int = DEFAULT_TTL_S,
        timeout_s: float = 0.5,
    ) -> None:
        self.store = store
        # For messages and /health only (the client keeps the real URL): no password in logs.
        self.redis_url = redact_url(redis_url)
        self.ttl_s = int(ttl_s)
        self.redis = redis.Redis.from_url(
            redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        self._counts: CountDict[str] = CountDict()
        self._last_warning_s = -float("inf")

    # --- generic entries ------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The bytes cached under ``key``, or None when neither level has them."""
        found = self.get_with_source(key)
        return None if found is None else found[0]

    def get_with_source(self, key: str) -> tuple[bytes, CacheLevel] | None:
        """The bytes under ``key`` and the level that held them (``redis`` or ``s3``), or
        None on a miss in both. A hit in S3 fills Redis again; a Redis that is down is
        skipped (and counted as an error)."""
        data = self._redis_call("get", lambda: self.redis.get(REDIS_PREFIX + key))
        if isinstance(data, bytes):
            self._count("redis", "hit")
            return data, "redis"
        if data is None:  # a real miss (REDIS_DOWN was counted as an error)
            self._count("redis", "miss")
        try:
            data = self.store.get(key)
        except ObjectNotFoundError:
            self._count("s3", "miss")
            return None
        self._count("s3", "hit")
        self._redis_call("fill", lambda: self.redis.set(REDIS_PREFIX + key, data, ex=self.ttl_s))
        return data, "s3"

    def put(
        self,
        key: str,
        data: bytes,
        file_id: str,
        content_type: str = "application/octet-stream",
    ) -> StoredObject:
        """Cache ``data`` under ``key`` in both levels, as derived from ``file_id``."""
        # file_id becomes part of the marker key below, as in invalidate_file.
        key_segment(file_id, "file_id")
        stored = self.store.put(key, data, content_type, metadata={"file-id": file_id})
        if not (key.startswith(f"raw/{file_id}/") or key.startswith(f"features/{file_id}/")):
            self.store.put(f"{DERIVED_PREFIX}{file_id}/{key}", b"")

        def fill() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(REDIS_PREFIX + key, data, ex=self.ttl_s)
            pipe.sadd(_index_key(file_id), key)
            pipe.execute()

        self._redis_call("put", fill)
        return stored

    def invalidate_file(self, file_id: str) -> int:
        """Remove every entry derived from ``file_id`` from both levels.

        Returns
        -------
        int
            Number of distinct keys removed (raw, features, results...).
        """
        key_segment(file_id, "file_id")
        keys = set(self.store.list(f"raw/{file_id}/"))
        keys.update(self.store.list(f"features/{file_id}/"))
        markers = list(self.store.list(f"{DERIVED_PREFIX}{file_id}/"))
        keys.update(m.removeprefix(f"{DERIVED_PREFIX}{file_id}/") for m in markers)
        indexed = self._redis_call("index", lambda: self.redis.smembers(_index_key(file_id)))
        if indexed is not REDIS_DOWN:
            keys.update(k.decode() for k in indexed)
        self._redis_call(
            "invalidate",
            lambda: self.redis.delete(_index_key(file_id), *(REDIS_PREFIX + k for k in keys)),
        )
        # Markers last: if this fails half-way, a second call still finds what is left.
        self.store.delete_many(sorted(keys))
        self.store.delete_many(markers)
        return len(keys)

    # --- typed helpers --------------------------------------------------------------------------

    def put_raw(self, file_id: str, filename: str, data: bytes) -> StoredObject:
        """Cache an uploaded recording."""
        return self.put(raw_key(file_id, filename), data, file_id)

    def get_raw(self, file_id: str, filename: str) -> bytes | None:
        """An uploaded recording, or None."""
        return self.get(raw_key(file_id, filename))

    def put_features(self, file_id: str, window_index: int, features: np.ndarray) -> StoredObject:
        """Cache one window's features."""
        return self.put(features_key(file_id, window_index), encode_array(features), file_id)

    def get_features(self, file_id: str, window_index: int) -> np.ndarray | None:
        """One window's features, or None."""
        data = self.get(features_key(file_id, window_index))
        return None if data is None else decode_array(data)

    def put_result(self, job_id: str, file_id: str, result: dict[str, Any]) -> StoredObject:
        """Cache a job's complete result, as derived from ``file_id``."""
        return self.put(result_key(job_id), encode_json(result), file_id, "application/json")

    def get_result(self, job_id: str) -> dict[str, Any] | None:
        """A job's complete result, or None."""
        data = self.get(result_key(job_id))
        return None if data is None else json.loads(data)

    # --- counters -------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Hits, misses and errors of this cache per level, e.g. ``{"redis_hit": 3, ...}``."""
        keys = [f"{lvl}_{out}" for lvl in ("redis", "s3") for out in ("hit", "miss", "error")]
        return {k: self._counts[k] for k in keys}

    def _count(self, level: str, outcome: str) -> None:
        self._counts[f"{level}_{outcome}"] += 1
        CACHE_REQUESTS.labels(level=level, outcome=outcome).inc()
        (CACHE_HITS if outcome == "hit" else CACHE_MISSES).labels(level=level).inc()

    # --- Redis, allowed to fail -----------------------------------------------------------------

    def _redis_call(self, what: str, call: Callable[[], T]) -> T | object:
        """Run a Redis call; when Redis is down, count, warn (rate-limited) and return
        :data:`REDIS_DOWN`."""
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._count("redis", "error")
            now = time.monotonic()
            if now - self._last_warning_s > 60:
                self._last_warning_s = now
                log.warning(
                    "Redis at %s does not answer (%s on %s): serving from S3 only; "
                    "start it with `brrr stack up` or check BRRR_REDIS_URL",
                    self.redis_url,
                    type(exc).__name__,
                    what,
                )
            return REDIS_DOWN


def _index_key(file_id: str) -> str:
    return f"{REDIS_PREFIX}derived:{file_id}"
