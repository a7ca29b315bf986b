"""The application of the asyncio tests, run by real ``huey_consumer`` processes.

Built from the environment: ``HUEY_ASYNC_TEST_DIR`` (a directory: the SQLite file and the
event log) and, for Redis, ``HUEY_ASYNC_REDIS_PORT`` and ``HUEY_ASYNC_REDIS_DB`` (a private
server; results are stored with ``notify_result=True``). The test process builds the same
application with ``build()`` to enqueue tasks and read results.

Hooks, signals and tasks append one line per event to ``<dir>/events`` (O_APPEND, one write per
line, so lines from several processes and threads never mix): ``kind word...``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from huey import Huey, SqliteHuey
from huey.signals import SIGNAL_INTERRUPTED


def record(directory: str | Path, *words: object) -> None:
    line = " ".join(str(word) for word in words) + "\n"
    fd = os.open(os.path.join(directory, "events"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(directory: str | Path) -> list[list[str]]:
    try:
        text = Path(directory, "events").read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines() if line]


def me() -> str:
    return f"{os.getpid()}:{threading.get_ident()}"


class Gate:
    """A context manager for ``context_task``: records entering and leaving."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def __enter__(self) -> str:
        record(self.directory, "gate", "open")
        return "gate-value"

    def __exit__(self, *exc: object) -> None:
        record(self.directory, "gate", "closed")


def make_huey(directory: str, redis_port: int | None = None, redis_db: int = 0) -> Huey:
    if redis_port is not None:
        from huey import RedisHuey

        return RedisHuey("async-tests", port=redis_port, db=redis_db, notify_result=True)
    return SqliteHuey("async-tests", filename=os.path.join(directory, "huey.db"))


def build(directory: str | Path, redis_port: int | None = None, redis_db: int = 0) -> Any:
    directory = str(directory)
    huey = make_huey(directory, redis_port, redis_db)

    @huey.on_startup()
    def started() -> None:
        record(directory, "startup", me())

    @huey.on_shutdown()
    def stopped() -> None:
        record(directory, "shutdown", me())

    @huey.signal()
    def on_signal(signal: str, task: Any, *args: Any) -> None:
        record(directory, "signal", signal, task.name.rsplit(".", 1)[-1], task.id)

    @huey.signal(SIGNAL_INTERRUPTED)
    def requeue(signal: str, task: Any) -> None:
        huey.enqueue(task)  # The "re-enqueue interrupted tasks" recipe.

    # -- async tasks -----------------------------------------------------------------------
    @huey.task()
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    @huey.task()
    async def nap(seconds: float, tag: str) -> str:
        record(directory, "begin", tag, me())
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            record(directory, "cancelled", tag)
            raise
        record(directory, "end", tag)
        return tag

    @huey.task()
    async def where() -> str:
        await asyncio.sleep(0)
        return me()

    @huey.task(timeout=0.5)
    async def overrun(tag: str) -> None:
        record(directory, "begin", tag, me())
        try:
            await asyncio.sleep(30)
        finally:
            record(directory, "unwound", tag)
        record(directory, "end", tag)

    @huey.task(retries=2)
    async def flaky(key: str, fail_times: int) -> int:
        await asyncio.sleep(0)
        tries = huey.storage.incr(f"flaky:{key}")
        if tries <= fail_times:
            raise ValueError(f"try {tries} fails")
        return tries

    @huey.task()
    async def boom() -> None:
        await asyncio.sleep(0)
        raise ValueError("async boom")

    @huey.task()
    @huey.lock_task("async-lock")
    async def exclusive(seconds: float, tag: str) -> str:
        record(directory, "begin", tag, me())
        await asyncio.sleep(seconds)
        record(directory, "end", tag)
        return tag

    @huey.task()
    @huey.rate_limit("async-limit", limit=2, per=60, retry=False)
    async def limited(n: int) -> int:
        await asyncio.sleep(0)
        return n

    @huey.task()
    async def double(n: int) -> int:
        await asyncio.sleep(0.01)
        return 2 * n

    @huey.task()
    async def total(values: list[int]) -> int:
        await asyncio.sleep(0)
        return sum(values)

    @huey.context_task(Gate(directory), as_argument=True)
    async def in_context(ctx: str, n: int) -> str:
        record(directory, "inside", ctx)
        await asyncio.sleep(0.05)
        return f"{ctx}:{n}"

    @huey.task(context=True)
    async def with_task(task: Any = None) -> str:
        await asyncio.sleep(0)
        return str(task.id)

    @huey.task()
    async def exit_loop() -> None:
        record(directory, "exiting", me())
        raise SystemExit(3)

    # -- plain tasks -----------------------------------------------------------------------
    @huey.task()
    def plain_add(a: int, b: int) -> int:
        return a + b

    @huey.task()
    def plain_where() -> str:
        return me()

    @huey.task()
    def plain_nap(seconds: float, tag: str) -> str:
        record(directory, "begin", tag, me())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # Short sleeps: an interrupt lands between them.
            time.sleep(0.02)
        record(directory, "end", tag)
        return tag

    tasks = {
        f.__name__: f
        for f in (
            add, nap, where, overrun, flaky, boom, exclusive, limited, double, total,
            in_context, with_task, exit_loop, plain_add, plain_where, plain_nap,
        )
    }  # fmt: skip
    return SimpleNamespace(huey=huey, directory=directory, **tasks)


if os.environ.get("HUEY_ASYNC_TEST_DIR"):
    _port = os.environ.get("HUEY_ASYNC_REDIS_PORT")
    app = build(
        os.environ["HUEY_ASYNC_TEST_DIR"],
        int(_port) if _port else None,
        int(os.environ.get("HUEY_ASYNC_REDIS_DB", "0")),
    )
    huey = app.huey
    record(app.directory, "imported", os.getpid())
