"""Fixtures of the Redis storage tests: private redis-server processes (never 6379).

``redis_server`` is one server for the session; ``redis_db`` gives each test a database of
its own on it (flushed when the test ends: the server is ours). ``own_server`` is a server for
one test alone, with append-only persistence, for tests that stop and restart it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_servers import REDIS_SERVER, RedisServer

DATABASES = 512


def _require_redis_server(config: pytest.Config) -> None:
    """Fail under CI, skip locally, through the root conftest's ``service_unavailable``."""
    if REDIS_SERVER is not None:
        return
    root = str(Path(__file__).resolve().parents[1] / "conftest.py")
    conftest: Any = config.pluginmanager.get_plugin(root)
    conftest.service_unavailable("redis-server")


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    _require_redis_server(request.config)
    server = RedisServer(f"databases {DATABASES}").start()
    yield server
    server.close()


_next_db = iter(range(1, DATABASES))


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[int]:
    """A database number no other test of this session uses."""
    db = next(_next_db)
    yield db
    with redis.Redis(port=redis_server.port, db=db) as client:
        client.flushdb()


@pytest.fixture
def redis_client(redis_server: RedisServer, redis_db: int) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test's database, to look at what the storages wrote."""
    with redis.Redis(port=redis_server.port, db=redis_db) as client:
        yield client


@pytest.fixture
def connection(redis_server: RedisServer, redis_db: int) -> dict[str, Any]:
    """Connection arguments of the test's database, for storages and Huey classes."""
    return {"port": redis_server.port, "db": redis_db}


@pytest.fixture
def own_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A server for this test alone that keeps its data across restarts (append-only file)."""
    _require_redis_server(request.config)
    server = RedisServer("appendonly yes", "appendfsync always").start()
    yield server
    server.close()
