"""Fixtures of the Redis Cluster storage tests: one private three-master cluster per session.

The cluster is started by the tests (``redis_servers.start_cluster``: three ``redis-server``
processes with ``cluster-enabled yes`` on free loopback ports, joined by ``redis-cli --cluster
create``); 127.0.0.1:6379 is never used. A cluster has one database, so tests are kept apart
by queue name: each test uses names of its own, or wipes the keys of the names it reuses.
Without ``redis-server`` or ``redis-cli`` the tests fail under ``CI=true`` and are skipped
otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster
from redis_servers import REDIS_CLI, REDIS_SERVER, RedisClusterHandle, start_cluster

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # For ``import cluster_support`` / ``cluster_app``.
    sys.path.insert(0, str(HERE))

from cluster_support import wipe  # noqa: E402


def _require_cluster_tools(config: pytest.Config) -> None:
    """Fail under CI, skip locally, through the root conftest's ``service_unavailable``."""
    tools = {"redis-server": REDIS_SERVER, "redis-cli": REDIS_CLI}
    missing = [name for name, path in tools.items() if path is None]
    if not missing:
        return
    root = str(HERE.parent / "conftest.py")
    conftest: Any = config.pluginmanager.get_plugin(root)
    conftest.service_unavailable(" and ".join(missing) + " (needed for a Redis Cluster)")


@pytest.fixture(scope="session")
def redis_cluster(request: pytest.FixtureRequest) -> Iterator[RedisClusterHandle]:
    """Three masters, no replicas, every slot assigned; stopped when the session ends."""
    _require_cluster_tools(request.config)
    handle = start_cluster(masters=3)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture(scope="session")
def cluster_client(redis_cluster: RedisClusterHandle) -> Iterator[RedisCluster]:
    """A plain redis-py cluster client, to look at what the storages wrote."""
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in redis_cluster.startup_nodes]
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def wipe_queue(redis_cluster: RedisClusterHandle) -> Iterator[Callable[[str], None]]:
    """``wipe_queue(name)``: empty queue ``name`` now and again when the test ends."""
    used: set[str] = set()

    def wipe_now(name: str) -> None:
        if name not in used:
            used.add(name)
            wipe(redis_cluster, name)

    yield wipe_now
    for name in used:
        wipe(redis_cluster, name)
