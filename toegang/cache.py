"""Django's Redis cache, without building a new redis-py client for every cache call.

``django.core.cache.backends.redis.RedisCacheClient.get_client`` makes a ``redis.Redis`` around the
shared connection pool on each call; with redis-py 8 that constructor copies about 170 response
callbacks, which cost more CPU than the Redis round trip itself (a third of the authorization API's
token-cache hit: bench/authz_api.py, docs/performance.md). A client is a thin, thread-safe wrapper
of its pool, so one per pool is kept. Everything else is Django's backend.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own private helpers (not in django-stubs): the pool choice stays Django's.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
