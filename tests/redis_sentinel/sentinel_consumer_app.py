"""An application run by a real ``huey_consumer`` in the Sentinel failover test.

Its Huey is built as the Sentinel recipe says: a ``RedisHuey`` on the pool of
``Sentinel(...).master_for(...)``, with a socket timeout well above the blocking read timeout.
``HUEY_SENTINEL_TEST_PORTS`` lists the sentinels' ports (comma-separated, all on loopback).
"""

from __future__ import annotations

import os

from redis.sentinel import Sentinel

from huey import RedisHuey

SERVICE = "mymaster"
PORTS = os.environ.get("HUEY_SENTINEL_TEST_PORTS", "1")  # Never a real default port.

sentinel = Sentinel([("127.0.0.1", int(port)) for port in PORTS.split(",")], socket_timeout=5)
huey = RedisHuey("sentinel-app", connection_pool=sentinel.master_for(SERVICE).connection_pool)


@huey.task()
def record(n: int) -> None:
    """Leave a mark that task ``n`` ran, and in which process."""
    huey.put(f"done:{n}", os.getpid())
