"""Login attempts per user name, limited in Redis across API processes.

A fixed window per name: the first attempt opens a window of ``window_s`` seconds; each
attempt is counted before the password is checked (atomically, so parallel guesses cannot slip
past the limit) and a successful one is taken back, so only failures add up. Past
``max_attempts`` in the window the answer is "wait ``retry_after_s``", whatever the password.

Names are counted under a hash of their case-folded form (``brrr:login:<sha256>``): the key
does not show the name, and ``Alice`` and ``alice`` share one count, as they share one user.

When Redis does not answer, logins go on with a count kept in this process (logged): the
limit then holds per process rather than across them, and login never fails because Redis is
down. A Redis that failed is left alone for :data:`RETRY_REDIS_AFTER_S` (one login does not
wait for it again and again); its client has short timeouts and no retries of its own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_PREFIX = "brrr:login:"
#: Seconds between two warnings that Redis is down.
WARN_EVERY_S = 60.0
#: After Redis failed, seconds of counting in this process before Redis is tried again.
RETRY_REDIS_AFTER_S = 5.0
#: Redis connect and read timeout of the limiter, seconds.
REDIS_TIMEOUT_S = 0.5

# Atomic in Redis: count an attempt (a count that has no expiry gets the window's), answer the
# count and the seconds left in the window.
_INCR = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""
# Take an attempt back, only while its window is open (never creates a count).
_DECR = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Attempt:
    """Whether a login attempt may go on, and if not, in how many seconds to try again."""

    allowed: bool
    retry_after_s: int = 0


class LoginRateLimiter:
    """At most ``max_attempts`` failed logins per user name in ``window_s`` seconds.

    Parameters
    ----------
    client : redis.Redis
        Where the counts live (the API's Redis, with short timeouts).
    max_attempts : int
        Failed attempts allowed in one window.
    window_s : int
        Length of the window, seconds.
    """

    def __init__(self, client: redis.Redis, max_attempts: int, window_s: int) -> None:
        self.client = client
        self.max_attempts = max_attempts
        self.window_s = window_s
        self._local = _LocalCounts()
        self._redis_down_until = float("-inf")
        self._incr = client.register_script(_INCR)
        self._decr = client.register_script(_DECR)
        self._warned_at = float("-inf")

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginRateLimiter:
        """The limiter of ``BRRR_LOGIN_MAX_ATTEMPTS`` in ``BRRR_LOGIN_WINDOW_S``, counting in
        ``BRRR_REDIS_URL`` with a client of its own (short timeouts, no retries)."""
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, settings.login_max_attempts, settings.login_window_s)

    def close(self) -> None:
        """Close the Redis connections."""
        self.client.close()

    def begin(self, name: str) -> Attempt:
        """Count an attempt for ``name``; refused when the window is already full."""
        key = _key(name)
        counted = self._in_redis(lambda: self._incr(keys=[key], args=[self.window_s]))
        count, ttl = counted if counted is not None else self._local.incr(key, self.window_s)
        if int(count) > self.max_attempts:
            return Attempt(allowed=False, retry_after_s=max(1, int(ttl)))
        return Attempt(allowed=True)

    def succeeded(self, name: str) -> None:
        """Take back the attempt of a login that succeeded."""
        key = _key(name)
        if self._in_redis(lambda: self._decr(keys=[key])) is None:
            self._local.decr(key)

    def _in_redis(self, call: Callable[[], T]) -> T | None:
        """The answer of a Redis call, or None when Redis is down (or was, moments ago)."""
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            return call()
        except redis.RedisError as exc:
            self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER_S
            self._warn(exc)
            return None

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "Redis does not answer (%s: %s): login attempts are limited per API process "
                "until it does; check BRRR_REDIS_URL",
                type(exc).__name__,
                exc,
            )


def _key(name: str) -> str:
    return KEY_PREFIX + hashlib.sha256(name.casefold().encode()).hexdigest()


class _LocalCounts:
    """The same fixed windows in this process's memory (thread-safe), for when Redis is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, window end)

    def incr(self, key: str, window_s: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            self._forget_expired(now)
            count, end = self._counts.get(key, (0, now + window_s))
            self._counts[key] = (count + 1, end)
        return count + 1, int(end - now + 0.999)

    def decr(self, key: str) -> None:
        with self._lock:
            if key in self._counts:
                count, end = self._counts[key]
                self._counts[key] = (max(0, count - 1), end)

    def _forget_expired(self, now: float) -> None:
        expired = [key for key, (_, end) in self._counts.items() if end <= now]
        for key in expired:
            del self._counts[key]
