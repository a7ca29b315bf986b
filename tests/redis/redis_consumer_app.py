"""An application run by a real ``huey_consumer`` in the Redis tests.

Built from the environment: ``HUEY_REDIS_TEST_PORT`` (a private server's port),
``HUEY_REDIS_TEST_KIND`` (``RedisHuey`` by default) and ``HUEY_REDIS_TEST_NOTIFY``.
"""

from __future__ import annotations

import os
import threading
import time

import huey as huey_package

PORT = int(os.environ.get("HUEY_REDIS_TEST_PORT", "1"))  # Never the default 6379.
KIND = os.environ.get("HUEY_REDIS_TEST_KIND", "RedisHuey")
NOTIFY = os.environ.get("HUEY_REDIS_TEST_NOTIFY") == "1"

huey = getattr(huey_package, KIND)("redis-app", port=PORT, notify_result=NOTIFY)


@huey.on_startup()
def announce() -> None:
    huey.put(f"up:{os.getpid()}:{threading.get_ident()}", "up")


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task()
def pid_of_worker(delay: float = 0) -> int:
    time.sleep(delay)
    return os.getpid()
