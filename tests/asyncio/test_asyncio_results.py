"""``aget_result`` and ``aget_result_group`` against real consumers, on SQLite and on Redis with
``notify_result`` (the wait sleeps in ``BLPOP`` on a thread, never on the event loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
import redis
from asyncio_support import events, wait_for

from huey import FileHuey, MemoryHuey, chord, group
from huey.api import Result, Task
from huey.contrib.asyncio import aget_result, aget_result_group
from huey.contrib.asyncio._results import _can_notify
from huey.exceptions import ResultTimeout, TaskException

pytestmark = pytest.mark.slow

T = TypeVar("T")


async def watched(awaitable: Awaitable[T]) -> tuple[T, int, float]:
    """Await ``awaitable`` beside a ticker; its value, the ticks and the longest gap between
    two ticks (how long the event loop was ever blocked)."""
    ticks = 0
    longest = 0.0

    async def ticker() -> None:
        nonlocal ticks, longest
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            ticks, longest, last = ticks + 1, max(longest, now - last), now

    beside = asyncio.create_task(ticker())
    try:
        value = await awaitable
    finally:
        beside.cancel()
    return value, ticks, longest


def run(awaitable: Awaitable[T], timeout: float = 30) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await awaitable

    return asyncio.run(bounded())


def test_which_storages_notify(tmp_path: Any) -> None:
    from huey.storage import RedisStorage, SqliteStorage  # type: ignore[attr-defined]

    assert _can_notify(SqliteStorage("q", filename=str(tmp_path / "q.db")))
    assert _can_notify(RedisStorage("q", port=1, notify_result=True))
    assert not _can_notify(RedisStorage("q", port=1, notify_result=False))
    assert not _can_notify(MemoryHuey("q").storage)
    assert not _can_notify(FileHuey("q", path=str(tmp_path / "files")).storage)


@pytest.mark.parametrize("kind", ["asyncio", "thread"])
def test_aget_result_on_sqlite(kind: str, app: Any, run_consumer: Any) -> None:
    consumer = run_consumer("-k", kind, "-w", "4")
    consumer.wait_started(hooks=1 if kind == "asyncio" else 4)

    # Other coroutines run while it waits, and the loop is never blocked by a storage call
    # (a blocking wait on the loop would stall the ticker for up to max_delay).
    value, ticks, longest = run(watched(aget_result(app.nap(1.5, "x"), max_delay=2.0)))
    assert value == "x"
    assert ticks > 20
    assert longest < 0.5

    with pytest.raises(TaskException) as info:
        run(aget_result(app.boom()))
    assert "async boom" in info.value.metadata["error"]

    kept = app.add(20, 22)
    assert run(aget_result(kept, preserve=True)) == 42
    assert app.huey.result(kept.id) == 42  # preserve=True left it in the store

    stored_none = app.plain_add(0, 0)
    assert run(aget_result(stored_none)) == 0

    # Many at once.
    many = [app.nap(0.3, f"m{i}") for i in range(30)]

    async def all_of_them() -> list[Any]:
        return await asyncio.gather(*(aget_result(r) for r in many))

    assert run(all_of_them()) == [f"m{i}" for i in range(30)]


def test_aget_result_group_shapes(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer("-k", "asyncio", "-w", "8")
    consumer.wait_started()
    assert run(aget_result_group(app.double.map(range(5)))) == [0, 2, 4, 6, 8]
    pipeline = app.huey.enqueue(app.add.s(1, 2).then(app.double))
    assert run(aget_result_group(pipeline)) == [3, 6]

    chord_handle = app.huey.enqueue(chord([app.double.s(n) for n in range(3)], app.total.s()))
    assert run(aget_result(chord_handle)) == 6  # A chord's handle waits for its callback.

    nested = app.huey.enqueue(
        group(
            [
                app.add.s(1, 1),
                app.add.s(2, 2).then(app.double),
                chord([app.double.s(1), app.double.s(2)], app.total.s()),
            ]
        )
    )
    assert run(aget_result_group(nested)) == [2, [4, 8], 6]

    with pytest.raises(TaskException):
        run(aget_result_group(app.huey.enqueue(group([app.add.s(1, 1), app.boom.s()]))))

    with pytest.raises(TypeError, match="aget_result_group"):
        run(aget_result(app.double.map([1])))  # type: ignore[arg-type]


def test_aget_result_timeout(app: Any) -> None:
    """``timeout=`` gives up with ``ResultTimeout`` (huey 3.5.4), whether the storage is waited
    on (SQLite: a slice of max_delay longer than the timeout is cut short) or polled."""
    never_run = app.add(1, 2)  # No consumer.
    with pytest.raises(ResultTimeout):
        run(aget_result(never_run, timeout=0.2, max_delay=60))
    h = MemoryHuey("polled")
    with pytest.raises(ResultTimeout):
        run(aget_result(Result(h, Task(id="missing")), timeout=0.05, max_delay=60))

    h.immediate = True

    @h.task()
    def inc(n: int) -> int:
        return n + 1

    kept = inc(1)
    assert run(aget_result(kept, timeout=5, preserve=True)) == 2
    assert h.result(kept.id) == 2  # preserve=True left it in the store.
    assert run(aget_result(inc(2), timeout=0)) == 3  # Ready: no time needed.


def _blpop_clients(client: redis.Redis) -> list[dict[str, Any]]:
    return [c for c in client.client_list() if c.get("cmd") == "blpop"]


def test_notify_based_waiting_on_redis(redis_app: Any, run_consumer: Any) -> None:
    app = redis_app
    consumer = run_consumer("-k", "asyncio", "-w", "4", env=app.redis_env)
    consumer.wait_started()
    storage = app.huey.storage
    assert storage.notify_result and _can_notify(storage)
    assert run(aget_result(app.add(1, 2))) == 3

    async def wait_and_look() -> tuple[Any, list[dict[str, Any]]]:
        # Polling with these settings would check at 1 ms, then 1 s, then 1000 s: only a
        # notification can bring the value after ~1.5 s.
        waiting = asyncio.create_task(
            watched(aget_result(app.nap(1.5, "notified"), backoff=1000, max_delay=30))
        )
        await asyncio.sleep(0.7)
        seen = await asyncio.to_thread(_blpop_clients, storage.conn)
        return await waiting, seen

    started = time.monotonic()
    (value, ticks, longest), blocked = run(wait_and_look(), timeout=20)
    elapsed = time.monotonic() - started
    assert value == "notified"
    assert elapsed < 10
    assert blocked, "no connection was waiting in BLPOP on the notification list"
    assert ticks > 20 and longest < 0.5  # The loop ran on while BLPOP waited on a thread.

    with pytest.raises(TaskException) as info:
        run(aget_result(app.boom(), max_delay=30))
    assert "async boom" in info.value.metadata["error"]

    results = app.nap.map([(0.2, f"r{i}") for i in range(10)])
    assert run(aget_result_group(results, max_delay=30)) == [f"r{i}" for i in range(10)]
    assert len(events(app.directory, "begin")) == 11


def test_redis_sigterm_and_timeouts_under_asyncio_workers(
    redis_app: Any, run_consumer: Any
) -> None:
    import signal

    app = redis_app
    consumer = run_consumer("-k", "asyncio", "-w", "3", env=app.redis_env)
    consumer.wait_started()
    with pytest.raises(TaskException, match="TaskTimeout"):
        run(aget_result(app.overrun("slow")))
    running = app.nap(60, "long")
    wait_for(lambda: len(events(app.directory, "begin")) == 2, what="the long task")
    consumer.send(signal.SIGTERM)
    assert consumer.wait(20) == 0
    assert events(app.directory, "cancelled") == [["long"]]
    assert app.huey.pending_count() == 1  # Enqueued again by the recipe's receiver.
    assert not running.is_ready()
