"""Answers kept between requests: Redis when ``REDIS_URL`` is set, else an in-process LRU.

A key is ``metrics_api:<build id>:<sha256 of the normalised query>``: the same question asked in
other words, field order or letter case lands on the same key, and a new build of the marts (a new
build id, :mod:`metrics_api.build`) makes every earlier key unreachable. When the API first sees a
new build id it also deletes the keys of the previous build (Redis ``SCAN`` + ``DEL``; the LRU is
cleared), so they do not wait for their TTL (``API_CACHE_TTL``, a backstop only).

Redis unreachable: the answer is computed from the warehouse, the response says ``X-Cache:
bypass`` and ``GET /status`` carries Redis' error; nothing is hidden and nothing stops.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

log = logging.getLogger(__name__)
PREFIX = "metrics_api"


def key_for(build_id: str, kind: str, normalised: dict) -> str:
    digest = hashlib.sha256(
        json.dumps(normalised, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return f"{PREFIX}:{build_id}:{kind}:{digest}"


class CacheError(RuntimeError):
    """The cache backend failed (the answer is computed without it)."""


class Cache(Protocol):
    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def retire(self, build_id: str) -> int: ...

    def status(self) -> dict: ...


class LruCache:
    """The embedded default: a bounded, thread-safe LRU in this process."""

    name = "memory"

    def __init__(self, entries: int, ttl: float):
        self.entries, self.ttl = entries, ttl
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def retire(self, build_id: str) -> int:
        prefix = f"{PREFIX}:{build_id}:"
        with self._lock:
            old = [k for k in self._data if k.startswith(prefix)]
            for k in old:
                del self._data[k]
        return len(old)

    def status(self) -> dict:
        return {"backend": self.name, "entries": len(self._data), "max_entries": self.entries}


class RedisCache:
    """The shared cache: every API process (and restart) sees the same answers."""

    name = "redis"

    def __init__(self, url: str, ttl: int):
        import redis

        self.url, self.ttl = url, ttl
        self._redis = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._errors = redis.RedisError
        self.last_error: str | None = None

    def _fail(self, action: str, exc: Exception) -> CacheError:
        self.last_error = f"{action} on {_safe_url(self.url)} failed: {exc}"
        log.warning("cache: %s", self.last_error)
        return CacheError(self.last_error)

    def get(self, key: str) -> bytes | None:
        try:
            value = self._redis.get(key)
        except self._errors as exc:
            raise self._fail("GET", exc) from exc
        self.last_error = None
        return value

    def set(self, key: str, value: bytes) -> None:
        try:
            self._redis.set(key, value, ex=self.ttl)
        except self._errors as exc:
            raise self._fail("SET", exc) from exc

    def retire(self, build_id: str) -> int:
        try:
            keys = list(self._redis.scan_iter(match=f"{PREFIX}:{build_id}:*", count=500))
            for start in range(0, len(keys), 500):
                self._redis.delete(*keys[start : start + 500])
        except self._errors as exc:
            raise self._fail("SCAN/DEL", exc) from exc
        return len(keys)

    def status(self) -> dict:
        try:
            self._redis.ping()
            self.last_error = None
        except self._errors as exc:
            self._fail("PING", exc)
        return {"backend": self.name, "url": _safe_url(self.url), "error": self.last_error}


def _safe_url(url: str) -> str:
    """The URL without its password (status pages and logs never show secrets)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def make_cache(redis_url: str | None, entries: int, ttl: int) -> Cache:
    return RedisCache(redis_url, ttl) if redis_url else LruCache(entries, ttl)
