"""The two-level cache, telling which level answered (for the ``X-Result-Source`` header)."""

from __future__ import annotations

from typing import Literal

from connectors.cache import REDIS_DOWN, REDIS_PREFIX, TwoLevelCache
from connectors.object_store import ObjectNotFoundError

CacheLevel = Literal["redis", "s3"]


class SourcedCache(TwoLevelCache):
    """:class:`connectors.cache.TwoLevelCache` whose reads also say where the bytes came from.

    Same lookups, counters and Redis fill as :meth:`TwoLevelCache.get`; only the answer
    carries the level.
    """

    def get_with_source(self, key: str) -> tuple[bytes, CacheLevel] | None:
        """The bytes under ``key`` and the level that held them, or None on a miss in both.

        Raises
        ------
        connectors.object_store.ObjectStoreError
            When S3 fails (other than a missing key); a Redis that is down is skipped.
        """
        data = self._redis_call("get", lambda: self.redis.get(REDIS_PREFIX + key))
        if isinstance(data, bytes):
            self._count("redis", "hit")
            return data, "redis"
        if data is not REDIS_DOWN:
            self._count("redis", "miss")
        try:
            data = self.store.get(key)
        except ObjectNotFoundError:
            self._count("s3", "miss")
            return None
        self._count("s3", "hit")
        self._redis_call("fill", lambda: self.redis.set(REDIS_PREFIX + key, data, ex=self.ttl_s))
        return data, "s3"
