"""Fixtures of the valkey-glide storage tests: one private ``redis-server`` per session.

The server is started by the tests on a free loopback port (``tests/redis_servers.py``) and
emptied before every test that asks for it; the shared server at 127.0.0.1:6379 is never used.
Without ``redis-server`` the tests fail under ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # For ``import glide_support`` / ``valkey_glide_app``.
    sys.path.insert(0, str(HERE))

from glide_support import service_unavailable  # noqa: E402
from redis_servers import REDIS_SERVER, RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def glide_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session."""
    if REDIS_SERVER is None:
        service_unavailable("redis-server (needed by the valkey-glide storage tests)")
    try:
        import glide  # noqa: F401
    except ImportError:
        service_unavailable("the valkey-glide client (import name 'glide')")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_py(glide_server: RedisServer) -> Iterator[Any]:
    """A redis-py client on the private server, which it empties first."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=glide_server.port)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def port(glide_server: RedisServer, redis_py: Any) -> int:
    """The private server's port, on an emptied server."""
    return glide_server.port
