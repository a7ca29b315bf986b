"""The application both implementations load in the Redis interop tests.

huey 3.5.4 (in its own virtualenv) and this project import this same file as the top-level
module ``redis_interop_app``, so every task has the same name on both sides and a message
written by one names a task the other knows. Both sides talk to the same private redis-server.

The Huey instances are built from ``$HUEY_INTEROP_CONFIG`` (JSON):

- ``kind``: ``redis``, ``priority_redis``, ``redis_expire`` or ``priority_redis_expire``
  (``RedisHuey``, ``PriorityRedisHuey``, ``RedisExpireHuey``, ``PriorityRedisExpireHuey``);
- ``url``: where the server is (a private one, with the test's database number);
- ``notify``: ``notify_result`` on or off.

``$HUEY_INTEROP_IMPL`` names the implementation running (``huey354`` or ``ours``).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any

import huey as huey_package

CONFIG: dict[str, Any] = json.loads(os.environ.get("HUEY_INTEROP_CONFIG") or "{}")
IMPL = os.environ.get("HUEY_INTEROP_IMPL", "unknown")
KIND: str = CONFIG.get("kind", "redis")
PRIORITY = KIND.startswith("priority")
EXPIRE = KIND.endswith("expire")

# Characters outside [A-Za-z0-9_] are dropped from key names by both implementations.
NAME = "interop-redis.main"
OTHER_NAME = "interop_redis_other"
LOCK = "interop-lock"
RATE_LIMIT = "interop-rl"
RATE_PER = 10**9  # One window for the whole run: counts never reset under a test.
EXPIRE_TIME = 3600

CLASSES = {
    "redis": "RedisHuey",
    "priority_redis": "PriorityRedisHuey",
    "redis_expire": "RedisExpireHuey",
    "priority_redis_expire": "PriorityRedisExpireHuey",
}


def build(name: str) -> Any:
    options: dict[str, Any] = {
        "url": CONFIG.get("url", "redis://127.0.0.1:1/0"),  # Never the default 6379.
        "store_none": True,
        "notify_result": bool(CONFIG.get("notify")),
    }
    if EXPIRE:
        options["expire_time"] = EXPIRE_TIME
    return getattr(huey_package, CLASSES[KIND])(name, **options)


huey = build(NAME)
other = build(OTHER_NAME)


@huey.on_startup()
def announce() -> None:
    """Each consumer worker says it is up, so a test can wait for every consumer."""
    huey.put(f"up:{IMPL}:{os.getpid()}:{threading.get_ident()}", IMPL)


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task()
def identity(value: Any = None) -> Any:
    return value


@huey.task()
def echo(*args: Any, **kwargs: Any) -> Any:
    """Every argument it got, and who ran it: ``[args, kwargs, impl]``."""
    return [list(args), kwargs, IMPL]


@huey.task()
def fail(message: str) -> None:
    raise ValueError(message)


@huey.task()
def collect(label: str, values: list[Any]) -> dict[str, Any]:
    """A chord callback: the members' results come after its own arguments."""
    return {"label": label, "values": values, "impl": IMPL}


@huey.task()
def revoked_kind(tag: str) -> str:
    """Revoked as a whole task (``rt:`` key)."""
    return tag


@huey.task()
@huey.lock_task(LOCK)
def locked() -> str:
    return "ran under the lock"


@huey.task()
def record(i: int) -> str:
    """Mark ``ran:<i>``; a second run of the same i leaves a ``dup:`` key, never overwrites."""
    if not huey.put_if_empty(f"ran:{i}", IMPL):
        huey.put(f"dup:{i}:{uuid.uuid4()}", IMPL)
    huey.storage.incr("runs")
    time.sleep(0.002)  # Long enough that both consumers of a fleet get a share.
    return IMPL


@other.task()
def other_echo(*args: Any) -> Any:
    return [list(args), OTHER_NAME, IMPL]
