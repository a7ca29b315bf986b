"""The application both implementations load in the interop tests.

The published huey 3.5.4 (in its own virtualenv) and this project (the test environment) import
this same file as the top-level module ``interop_app``, so every task has the same name on both
sides (``interop_app.<function>``) and a message written by one names a task the other knows.

The Huey instances are built from ``$HUEY_INTEROP_CONFIG`` (JSON):

- ``storage``: ``"memory"`` (default) or ``"sqlite"`` (then ``filename`` is required);
- ``compression`` / ``use_zlib``: the serializer's compression (gzip, or zlib);
- ``secret``: sign with ``SignedSerializer(secret)`` instead of the plain ``Serializer``.

``$HUEY_INTEROP_IMPL`` names the implementation running (``huey354`` or ``ours``); tasks record
it so a test can tell which side ran them. Nothing here depends on which side imports it.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any

from huey import MemoryHuey, SqliteHuey
from huey.serializer import Serializer, SignedSerializer

CONFIG: dict[str, Any] = json.loads(os.environ.get("HUEY_INTEROP_CONFIG") or "{}")
IMPL = os.environ.get("HUEY_INTEROP_IMPL", "unknown")

NAME = "interop"  # The main queue.
OTHER_NAME = "interop_b"  # A second queue sharing the same SQLite file.
LOCK = "interop-lock"
RATE_LIMIT = "interop-rl"
# A window of ~31 years: no test run straddles two windows, so counts never reset under it.
RATE_PER = 10**9


def make_serializer(config: dict[str, Any] = CONFIG) -> Serializer:
    options = {
        "compression": bool(config.get("compression")),
        "use_zlib": bool(config.get("use_zlib")),
    }
    if config.get("secret"):
        return SignedSerializer(secret=config["secret"], **options)
    return Serializer(**options)


def build(name: str, config: dict[str, Any] = CONFIG) -> Any:
    options: dict[str, Any] = {"serializer": make_serializer(config), "store_none": True}
    if config.get("storage", "memory") == "sqlite":
        return SqliteHuey(name, filename=config["filename"], **options)
    return MemoryHuey(name, **options)


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


@huey.task(name="renamed_task")
def renamed(value: Any) -> Any:
    """A task with a custom name: huey 3.5.4 still prefixes it with the module."""
    return value


@huey.task()
def echo(*args: Any, **kwargs: Any) -> Any:
    """Every argument it got, and who ran it: ``[args, kwargs, impl]``."""
    return [list(args), kwargs, IMPL]


@huey.task()
def fail(message: str) -> None:
    raise ValueError(message)


@huey.task(retries=2, retry_delay=30, retry_backoff=2)
def unreliable(message: str) -> None:
    raise RuntimeError(message)


@huey.task(timeout=45)
def patient(value: Any) -> Any:
    return value


@huey.task()
def handle_error(tag: str, exc: Exception) -> str:
    """An ``.error()`` handler: gets the failed task's exception after its own arguments."""
    return f"{tag}:{type(exc).__name__}:{exc}"


@huey.task()
def collect(label: str, values: list[Any]) -> dict[str, Any]:
    """A chord callback: huey 3.5.4 passes the members' results after its own arguments."""
    return {"label": label, "values": values, "impl": IMPL}


@huey.task()
def revocable(tag: str) -> str:
    return tag


@huey.task()
def revoked_kind(tag: str) -> str:
    """Revoked as a whole task (``rt:`` key) in the revocation tests."""
    return tag


@huey.task()
@huey.lock_task(LOCK)
def locked() -> str:
    return "ran under the lock"


@huey.task()
def limited() -> str:
    with huey.rate_limit(RATE_LIMIT, limit=2, per=RATE_PER):
        return "within the limit"


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
