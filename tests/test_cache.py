"""toegang.cache.RedisCache (Django's Redis backend reusing its redis-py client) against a real Redis.

Skipped without a Redis at TOEGANG_REDIS_URL (default redis://127.0.0.1:6379/0). Keys under a prefix
of their own, removed one by one: ``clear()`` would empty the whole Redis database.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest

from toegang.cache import RedisCache

URL = os.environ.get("TOEGANG_REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reachable() -> bool:
    url = urlparse(URL)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _reachable(), reason="no Redis")
def test_the_backend_behaves_as_djangos_and_keeps_one_client() -> None:
    cache = RedisCache(URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    keys = ["a", "b", "c"]
    try:
        assert cache.get("a") is None
        cache.set("a", (1, "x", 2.5), 30)
        assert cache.get("a") == (1, "x", 2.5)
        assert cache.add("a", "other", 30) is False and cache.add("b", "new", 30) is True
        cache.set_many({"b": "tomb", "c": "tomb"}, 30)
        assert cache.get_many(keys) == {"a": (1, "x", 2.5), "b": "tomb", "c": "tomb"}
        inner = cache._cache  # type: ignore[attr-defined]
        client = inner.get_client()
        assert inner.get_client() is client and inner.get_client(write=True) is client
    finally:
        cache.delete_many(keys)
    assert cache.get_many(keys) == {}
