"""Fixtures of the asyncio tests: the test application, real consumers, a private Redis."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from async_apps.app import build
from asyncio_support import ConsumerRun
from redis_servers import REDIS_SERVER, RedisServer


@pytest.fixture
def app(tmp_path: Path) -> Any:
    """The test application on SQLite in a fresh directory, as the test process sees it."""
    return build(tmp_path)


@pytest.fixture
def run_consumer(tmp_path: Path) -> Iterator[Callable[..., ConsumerRun]]:
    """``start(*args, env=None)``: a ``huey_consumer`` subprocess on the app's directory;
    killed after the test if still running."""
    runs: list[ConsumerRun] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ConsumerRun:
        run = ConsumerRun(tmp_path, list(args), env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private redis-server for the session (never 6379); missing: fails in CI, else skips."""
    if REDIS_SERVER is None:
        root = str(Path(__file__).resolve().parents[1] / "conftest.py")
        request.config.pluginmanager.get_plugin(root).service_unavailable("redis-server")
    server = RedisServer("databases 64").start()
    yield server
    server.close()


_databases = count(1)


@pytest.fixture
def redis_app(redis_server: RedisServer, tmp_path: Path) -> Iterator[Any]:
    """The test application on a fresh database of the private server (notify_result on)."""
    db = next(_databases)
    application = build(tmp_path, redis_server.port, db)
    application.redis_env = {
        "HUEY_ASYNC_REDIS_PORT": str(redis_server.port),
        "HUEY_ASYNC_REDIS_DB": str(db),
    }
    yield application
    application.huey.storage.conn.flushdb()
