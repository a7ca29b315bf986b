"""``async def`` tasks wherever they are consumed: thread, process and greenlet workers (real
consumer processes) and immediate mode, each running the coroutine to completion."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

import pytest
from asyncio_support import events, peak_concurrency, signals, wait_for

from huey import MemoryHuey, chord
from huey.exceptions import TaskException

CLASSIC = ["thread", "process", "greenlet"]


def get(result: Any, timeout: float = 20) -> Any:
    return result.get(blocking=True, timeout=timeout)


def error_of(result: Any, timeout: float = 20) -> str:
    with pytest.raises(TaskException) as info:
        get(result, timeout)
    return str(info.value.metadata["error"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", CLASSIC)
def test_async_tasks_under_classic_workers(kind: str, app: Any, run_consumer: Any) -> None:
    consumer = run_consumer("-k", kind, "-w", "3")
    consumer.wait_started(hooks=3)
    assert get(app.add(1, 2)) == 3
    # One async task per worker, at once (greenlets hand theirs to native threads).
    naps = [app.nap(0.8, f"n{i}") for i in range(3)]
    assert [get(r) for r in naps] == ["n0", "n1", "n2"]
    assert peak_concurrency(app.directory) == 3

    pipeline = app.add.s(1, 2).then(app.plain_add, 10).then(app.double)
    assert get(app.huey.enqueue(pipeline)) == [3, 13, 26]
    assert get(app.huey.enqueue(chord([app.double.s(n) for n in range(4)], app.total.s()))) == 12
    assert get(app.in_context(1)) == "gate-value:1"

    flaky = app.flaky(kind, 1)
    wait_for(lambda: signals(app.directory, "complete", "flaky"), what="the retry")
    assert get(flaky) == 2

    holder = app.exclusive(1.0, "holder")
    wait_for(lambda: app.huey.is_locked("async-lock"), what="the lock")
    assert "TaskLockedException" in error_of(app.exclusive(0, "refused"))
    assert get(holder) == "holder"


@pytest.mark.slow
@pytest.mark.parametrize("kind", CLASSIC)
def test_timeouts_apply_to_async_tasks(kind: str, app: Any, run_consumer: Any) -> None:
    # Processes: SIGALRM; greenlets: gevent.Timeout; threads: asyncio's timeout (and any of
    # them: the coroutine is cancelled at its await).
    consumer = run_consumer("-k", kind, "-w", "2")
    consumer.wait_started(hooks=2)
    started = time.monotonic()
    result = app.overrun("slow")
    assert "TaskTimeout" in error_of(result)
    assert time.monotonic() - started < 10
    wait_for(lambda: events(app.directory, "unwound"), what="the body to unwind")
    assert events(app.directory, "end") == []
    assert signals(app.directory, "timeout", "overrun") == [result.id]
    assert get(app.add(5, 5)) == 10  # The worker carries on.


@pytest.mark.slow
@pytest.mark.parametrize("kind", CLASSIC)
def test_sigterm_interrupts_async_tasks(kind: str, app: Any, run_consumer: Any) -> None:
    consumer = run_consumer("-k", kind, "-w", "2")
    consumer.wait_started(hooks=2)
    running = [app.nap(60, "a"), app.nap(60, "b")]
    wait_for(lambda: len(events(app.directory, "begin")) == 2, what="two tasks to start")
    consumer.send(signal.SIGTERM)
    assert consumer.wait(20) == 0
    assert sorted(signals(app.directory, "interrupted")) == sorted(r.id for r in running)
    assert events(app.directory, "end") == []
    if kind != "greenlet":  # There the coroutine unwinds on a native thread, unwaited.
        assert sorted(tag for (tag,) in events(app.directory, "cancelled")) == ["a", "b"]
    assert app.huey.pending_count() == 2  # Enqueued again by the recipe's receiver.


# -- immediate mode ------------------------------------------------------------------------------
@pytest.fixture
def huey() -> MemoryHuey:
    return MemoryHuey("immediate-async", immediate=True)


def test_immediate_mode_runs_async_tasks(huey: MemoryHuey) -> None:
    @huey.task()
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0.01)
        return a + b

    @huey.task(retries=1)
    async def fails_once(box: list[int]) -> str:
        box.append(1)
        if len(box) == 1:
            raise ValueError("first")
        return "second"

    assert add.task_class.is_async
    assert add(1, 2).get() == 3
    assert huey.enqueue(add.s(1, 2).then(add, 10)).get() == [3, 13]
    assert fails_once([]).get() == "second"


def test_immediate_mode_timeout_lock_and_context(huey: MemoryHuey) -> None:
    unwound: list[str] = []

    @huey.task(timeout=0.2)
    async def overrun() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            unwound.append("yes")

    @huey.task()
    @huey.lock_task("immediate-lock")
    async def locked() -> bool:
        await asyncio.sleep(0)
        return huey.is_locked("immediate-lock")

    @huey.task(context=True)
    async def remaining(task: Any = None) -> float:
        return float(task.time_remaining)

    started = time.monotonic()
    with pytest.raises(TaskException, match="TaskTimeout"):
        overrun().get()
    assert time.monotonic() - started < 5
    assert unwound == ["yes"]
    assert locked().get() is True  # Held while the coroutine ran, released after.
    assert not huey.is_locked("immediate-lock")
    huey.lock_task("immediate-lock").acquire()
    with pytest.raises(TaskException, match="TaskLockedException"):
        locked().get()
    assert remaining().get() == float("inf")


def test_each_thread_keeps_a_private_loop_and_cleans_up(huey: MemoryHuey) -> None:
    background: list[asyncio.Task[None]] = []

    @huey.task()
    async def loop_id() -> int:
        async def forever() -> None:
            await asyncio.sleep(3600)

        background.append(asyncio.get_running_loop().create_task(forever()))
        await asyncio.sleep(0)
        return id(asyncio.get_running_loop())

    first, second = loop_id().get(), loop_id().get()
    assert first == second  # The thread's loop is reused...
    assert all(task.cancelled() for task in background)  # ...without leftovers.
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(loop_id().get()))
    thread.start()
    thread.join()
    assert other and other[0] != first


def test_immediate_mode_from_inside_a_running_loop(huey: MemoryHuey) -> None:
    @huey.task()
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0.01)
        return a + b

    async def main() -> tuple[int, bool]:
        outer = asyncio.get_running_loop()

        @huey.task()
        async def loop_is_other() -> bool:
            return asyncio.get_running_loop() is not outer

        return add(2, 3).get(), loop_is_other().get()

    assert asyncio.run(main()) == (5, True)


def test_plain_function_returning_a_coroutine_is_driven(huey: MemoryHuey) -> None:
    async def work(n: int) -> int:
        await asyncio.sleep(0)
        return n * 3

    @huey.task()
    def wrapped(n: int) -> Any:  # e.g. a sync decorator around an async function
        return work(n)

    assert not wrapped.task_class.is_async
    assert wrapped(4).get() == 12


def test_call_local_and_task_api(huey: MemoryHuey) -> None:
    @huey.task()
    async def add(a: int, b: int) -> int:
        return a + b

    @huey.task()
    def plain() -> None:
        return None

    assert asyncio.run(add.call_local(1, 2)) == 3
    task = add.s(1, 2)
    assert task.is_async and not plain.s().is_async
    assert asyncio.run(task.coroutine()) == 3
    with pytest.raises(TypeError, match="not an async task"):
        plain.s().coroutine()
