"""The answer cache: the in-process LRU (the default) and the real Redis server (``REDIS_URL``),
keyed by the normalised query and the marts build id, so a new build retires every answer.

Both directions of invalidation: the same build keeps answering from the cache (hit), a new build
id (what the transform DAG publishes, :func:`metrics_api.build.publish`) makes the same request
a miss, and its old keys are deleted. Redis tests carry the ``redis`` marker (skipped without a
server unless ``REQUIRE_REDIS=1``, as in CI); each uses a build id of its own, so runs in parallel
never share keys.
"""

from __future__ import annotations

import os
import uuid

import pytest
from fastapi.testclient import TestClient

from metrics_api.app import create_app
from metrics_api.build import BuildWatcher, publish, read
from metrics_api.cache import LruCache, key_for
from metrics_api.settings import ApiSettings
from tests.api_support import api_env, free_port, sample_warehouse  # noqa: F401 - fixture

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")
QUERY = {"metrics": ["net_revenue"], "group_by": ["order__channel"], "start": "2026-01-12"}
SAME_QUERY = {"group_by": ["ORDER__CHANNEL"], "start": "2026-01-12", "metrics": ["Net_Revenue"]}


def _post(http, body=QUERY) -> tuple[str, str, list]:
    response = http.post("/query", json=body)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.headers["x-build-id"], response.json()["rows"]


# --------------------------------------------------------------------------- keys and builds
def test_the_key_is_the_normalised_query_under_the_build_id():
    one = key_for("b1", "query", {"metrics": ["orders"], "limit": None})
    assert one == key_for("b1", "query", {"limit": None, "metrics": ["orders"]})
    assert one != key_for("b2", "query", {"metrics": ["orders"], "limit": None})
    assert one.startswith("metrics_api:b1:query:")


def test_a_published_build_is_read_back_and_a_broken_file_is_named(tmp_path):
    path = tmp_path / "build.json"
    watcher = BuildWatcher(path)
    assert watcher.current().build_id == "unpublished"
    first = publish(path, "duckdb")
    assert watcher.current() == read(path) == first and first.target == "duckdb"
    second = publish(path, "duckdb")
    assert watcher.current().build_id == second.build_id != first.build_id
    path.write_text('{"build_id": "../etc"}')
    with pytest.raises(RuntimeError, match="is not 1-64 letters and digits"):
        read(path)


def test_the_lru_keeps_its_newest_entries_and_retires_a_build():
    cache = LruCache(entries=2, ttl=60)
    cache.set("metrics_api:b1:q:1", b"one")
    cache.set("metrics_api:b1:q:2", b"two")
    assert cache.get("metrics_api:b1:q:1") == b"one"  # now the newest
    cache.set("metrics_api:b2:q:3", b"three")
    assert cache.get("metrics_api:b1:q:2") is None  # the least recently used went
    assert cache.retire("b1") == 1
    assert cache.get("metrics_api:b1:q:1") is None and cache.get("metrics_api:b2:q:3") == b"three"


# --------------------------------------------------------------------------- the in-process cache
def test_in_process_cache_hits_then_a_new_build_makes_it_miss(sample_warehouse, tmp_path):  # noqa: F811
    env = api_env(sample_warehouse, tmp_path)
    publish(tmp_path / "marts_build.json", "duckdb", build_id="first")
    with TestClient(create_app(ApiSettings.from_env(env))) as http:
        state, build, rows = _post(http)
        assert (state, build) == ("miss", "first")
        assert _post(http, SAME_QUERY) == ("hit", "first", rows)  # same build: served cached
        entries = http.get("/status").json()["cache"]["entries"]
        assert entries >= 1
        publish(tmp_path / "marts_build.json", "duckdb", build_id="second")
        assert _post(http) == ("miss", "second", rows)
        assert _post(http) == ("hit", "second", rows)
        status = http.get("/status").json()
        assert status["build"]["id"] == "second"
        assert status["cache"]["entries"] < entries + 1  # the first build's answers were retired


# --------------------------------------------------------------------------- the Redis server
@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.mark.redis
def test_redis_cache_is_shared_and_a_new_build_retires_its_keys(
    sample_warehouse,  # noqa: F811
    tmp_path,
    redis_client,
):
    first, second = f"t{uuid.uuid4().hex}", f"t{uuid.uuid4().hex}"
    env = api_env(sample_warehouse, tmp_path, REDIS_URL=REDIS_URL)
    publish(tmp_path / "marts_build.json", "duckdb", build_id=first)
    try:
        with TestClient(create_app(ApiSettings.from_env(env))) as http:
            state, _, rows = _post(http)
            assert state == "miss"
            stored = redis_client.keys(f"metrics_api:{first}:query:*")
            assert len(stored) >= 1
            assert 0 < redis_client.ttl(stored[0]) <= 3600
            assert http.get("/status").json()["cache"] == {
                "backend": "redis",
                "url": REDIS_URL,
                "error": None,
            }
        # another API process (here: a fresh app) answers from the same Redis
        with TestClient(create_app(ApiSettings.from_env(env))) as other:
            assert _post(other, SAME_QUERY) == ("hit", first, rows)
            publish(tmp_path / "marts_build.json", "duckdb", build_id=second)
            assert _post(other) == ("miss", second, rows)
            assert redis_client.keys(f"metrics_api:{first}:*") == []
            assert len(redis_client.keys(f"metrics_api:{second}:query:*")) >= 1
            assert _post(other) == ("hit", second, rows)
    finally:
        for build in (first, second):
            for key in redis_client.scan_iter(match=f"metrics_api:{build}:*"):
                redis_client.delete(key)


@pytest.mark.redis
def test_an_ask_and_the_query_it_becomes_share_a_redis_entry(
    sample_warehouse,  # noqa: F811
    tmp_path,
    redis_client,
):
    build = f"t{uuid.uuid4().hex}"
    publish(tmp_path / "marts_build.json", "duckdb", build_id=build)
    env = api_env(sample_warehouse, tmp_path, REDIS_URL=REDIS_URL)
    try:
        with TestClient(create_app(ApiSettings.from_env(env))) as http:
            asked = http.post("/ask", json={"question": "orders by channel last week"})
            assert asked.status_code == 200 and asked.headers["x-cache"] == "miss"
            query = {
                "metrics": ["orders"],
                "group_by": ["order__channel"],
                "start": "2026-01-05",
                "end": "2026-01-11",
                "order_by": ["-orders"],
            }
            state, _, rows = _post(http, query)
            assert state == "hit"
            assert rows == asked.json()["table"]["rows"]
    finally:
        for key in redis_client.scan_iter(match=f"metrics_api:{build}:*"):
            redis_client.delete(key)


def test_with_redis_unreachable_answers_come_from_the_warehouse_and_status_says_why(
    sample_warehouse,  # noqa: F811
    tmp_path,
):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = api_env(sample_warehouse, tmp_path, REDIS_URL=url)
    with TestClient(create_app(ApiSettings.from_env(env))) as http:
        state, _, rows = _post(http)
        assert state == "bypass" and rows
        assert _post(http)[0] == "bypass"  # never a hit: nothing was stored
        cache = http.get("/status").json()["cache"]
        assert cache["backend"] == "redis" and "Connection refused" in cache["error"]
