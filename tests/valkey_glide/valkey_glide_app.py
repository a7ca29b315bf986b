"""A ``ValkeyGlideHuey`` application for ``huey_consumer`` runs in the end-to-end tests.

The server's port comes from ``$HUEY_GLIDE_PORT``; the test process imports this same module
(so task names match) with the same environment.
"""

from __future__ import annotations

import os
import threading

from huey import crontab
from huey.contrib.valkey_glide import ValkeyGlideHuey

huey = ValkeyGlideHuey(
    "glide-e2e",
    port=int(os.environ.get("HUEY_GLIDE_PORT", "6379")),
    client_name="glide-e2e",
)


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task()
def whoami() -> str:
    return f"{os.getpid()}:{threading.get_ident()}"


@huey.task(retries=2, retry_delay=0)
def flaky(tag: str) -> str:
    # Fails on its first run: the retry must come back through the queue.
    if huey.storage.incr(f"flaky:{tag}") == 1:
        raise RuntimeError("first attempt fails")
    return f"{tag} ok"


@huey.task()
def guarded(tag: str) -> str:
    with huey.lock_task(f"lock-{tag}"):
        return tag


@huey.periodic_task(crontab(minute="*"))
def every_minute() -> None:
    huey.storage.incr("periodic")
