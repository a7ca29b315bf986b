"""Fixtures of the Sentinel failover tests: a private master, replica and three sentinels.

Every test gets a group of its own (``sentinel_group``), since every test kills its master.
All of it runs on free loopback ports, never 127.0.0.1:6379 nor a sentinel's usual 26379.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_servers import REDIS_SERVER, SentinelGroup, start_sentinel_group


def _require_redis_server(config: pytest.Config) -> None:
    """Fail under CI, skip locally, through the root conftest's ``service_unavailable``."""
    if REDIS_SERVER is not None:
        return
    root = str(Path(__file__).resolve().parents[1] / "conftest.py")
    conftest: Any = config.pluginmanager.get_plugin(root)
    conftest.service_unavailable("redis-server")


@pytest.fixture
def sentinel_group(request: pytest.FixtureRequest) -> Iterator[SentinelGroup]:
    """A master, one replica in sync with it, and three sentinels (quorum 2) that all see
    them and each other: a failover can start one second after the master goes silent."""
    _require_redis_server(request.config)
    group = start_sentinel_group(replicas=1, sentinels=3, quorum=2)
    yield group
    group.close()
