"""An application run by a real ``huey_consumer`` in the Redis Cluster tests.

Built from the environment: ``HUEY_CLUSTER_NODES`` (``host:port,host:port,...`` of a private
cluster), ``HUEY_CLUSTER_KIND`` (``RedisClusterHuey`` by default) and ``HUEY_CLUSTER_QUEUE``.
"""

from __future__ import annotations

import os
import time

from huey.backends.redis import _cluster

NODES = os.environ.get("HUEY_CLUSTER_NODES", "127.0.0.1:1").split(",")  # Never 6379.
KIND = os.environ.get("HUEY_CLUSTER_KIND", "RedisClusterHuey")
QUEUE = os.environ.get("HUEY_CLUSTER_QUEUE", "cluster_app")

huey = getattr(_cluster, KIND)(QUEUE, startup_nodes=NODES, notify_result=True)


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task(retries=1, retry_delay=0)
def flaky(key: str) -> str:
    if huey.storage.incr(f"flaky:{key}") == 1:
        raise ValueError("first run fails")
    return f"{key} ok"


@huey.task()
@huey.lock_task("guarded-lock")
def guarded(value: str) -> str:
    return value


@huey.task()
def whoami(delay: float = 0.05) -> int:
    time.sleep(delay)
    return os.getpid()
