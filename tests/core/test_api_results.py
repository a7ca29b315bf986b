"""Reading results: Result, Huey.result, ResultGroup, TaskException and error metadata."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from huey import MemoryHuey, group
from huey.api import Result, ResultGroup, Task, TaskWrapper
from huey.exceptions import ResultTimeout, TaskException
from huey.utils import Error


@pytest.fixture
def add(huey: MemoryHuey) -> TaskWrapper:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    return add


@pytest.fixture
def run_soon(huey: MemoryHuey) -> Iterator[Any]:
    """``run_soon(delay)``: a thread that runs the queued tasks after ``delay`` seconds."""
    threads: list[threading.Thread] = []

    def start(delay: float) -> None:
        def work() -> None:
            time.sleep(delay)
            while (task := huey.dequeue()) is not None:
                huey.execute(task)

        thread = threading.Thread(target=work)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join()


def test_result_handle(huey: MemoryHuey, add: TaskWrapper, drain: Any) -> None:
    r = add(1, 2)
    assert isinstance(r, Result) and r.id == huey.pending()[0].id
    assert repr(r) == f"<Result: task {r.id}>"
    assert r.get() is None and r() is None and not r.is_ready()
    drain()
    assert r.is_ready()
    assert r() == 3


def test_reads_are_destructive_unless_preserved(huey: MemoryHuey, add: TaskWrapper) -> None:
    r1, r2 = add(1, 2), add(3, 4)
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
    assert r1.get(preserve=True) == 3 and huey.result_count() == 2
    assert huey.result(r1.id, preserve=True) == 3
    assert huey.result(r1.id) == 3
    assert huey.result(r1.id) is None  # Consumed.
    assert r1.get() == 3  # The handle caches what it read.
    assert r2.get() == 7 and huey.result_count() == 0
    assert huey.result("no-such-id") is None


def test_is_ready_reads_the_result_into_the_handle(
    huey: MemoryHuey, add: TaskWrapper, drain: Any
) -> None:
    """As huey 3.5.4: a result found ready can always be read, even by a preserving get."""
    r = add(1, 2)
    drain()
    assert r.is_ready() and huey.result_count() == 0  # Read once, out of the store.
    assert r.get(preserve=True) == 3 and r() == 3
    # Another handle for the same task finds nothing left to read.
    assert not Result(huey, r.task).is_ready()


def test_get_raw_result_returns_a_failure_instead_of_raising(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def fails() -> None:
        raise ValueError("no")

    r = fails()
    assert r.get_raw_result() is None  # Not run yet.
    drain()
    error = r.get_raw_result()
    assert isinstance(error, Error) and error.metadata["error"] == "ValueError('no')"
    with pytest.raises(TaskException):
        r.get()
    with pytest.raises(ResultTimeout):
        Result(huey, Task(id="missing")).get_raw_result(blocking=True, timeout=0.01)


def test_blocking_read_waits_for_the_result(add: TaskWrapper, run_soon: Any) -> None:
    r = add(1, 2)
    run_soon(0.05)
    start = time.monotonic()
    assert r.get(blocking=True, timeout=5, max_delay=0.01) == 3
    assert time.monotonic() - start < 1


def test_huey_result_blocking(huey: MemoryHuey, add: TaskWrapper, run_soon: Any) -> None:
    r = add(2, 2)
    run_soon(0.05)
    assert huey.result(r.id, blocking=True, timeout=5, backoff=1.5, max_delay=0.02) == 4


def test_blocking_read_times_out(huey: MemoryHuey, add: TaskWrapper) -> None:
    r = add(1, 2)
    start = time.monotonic()
    with pytest.raises(ResultTimeout):
        r.get(blocking=True, timeout=0.05)
    assert 0.04 < time.monotonic() - start < 1
    assert not huey.is_revoked(r)
    with pytest.raises(ResultTimeout):
        huey.result(r.id, blocking=True, timeout=0.01)


def test_revoke_on_timeout(huey: MemoryHuey, add: TaskWrapper, signals: Any) -> None:
    r = add(1, 2)
    with pytest.raises(ResultTimeout):
        r.get(blocking=True, timeout=0.01, revoke_on_timeout=True)
    assert r.is_revoked()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.names() == ["revoked"]
    r2 = add(5, 5)
    with pytest.raises(ResultTimeout):
        huey.result(r2.id, blocking=True, timeout=0.01, revoke_on_timeout=True)
    assert huey.is_revoked(r2.id)


def test_max_delay_bounds_the_polling_interval(add: TaskWrapper, run_soon: Any) -> None:
    r = add(1, 2)
    run_soon(0.3)
    start = time.monotonic()
    # Backing off by 10x each poll would sleep past 0.3 s by far without max_delay.
    assert r.get(blocking=True, timeout=5, backoff=10, max_delay=0.02) == 3
    assert time.monotonic() - start < 0.6


def test_task_exception_carries_the_error_metadata(huey: MemoryHuey, drain: Any) -> None:
    @huey.task(retries=1)
    def fails(arg: str) -> None:
        raise KeyError(arg)

    r = fails("k")
    drain()
    with pytest.raises(TaskException) as info:
        r.get()
    md = info.value.metadata
    assert md["error"] == "KeyError('k')" and md["retries"] == 0 and md["task_id"] == r.id
    assert md["traceback"].rstrip().endswith("KeyError: 'k'")
    assert str(info.value) == "KeyError('k')"
    with pytest.raises(TaskException):
        r.get()  # The cached error raises again.


def test_build_error_result_override(drain: Any) -> None:
    class MyHuey(MemoryHuey):
        def build_error_result(self, task: Any, exception: BaseException) -> dict[str, Any]:
            err = super().build_error_result(task, exception)
            err["task_name"] = task.name
            err["task_args"] = task.args
            err["task_kwargs"] = task.kwargs
            return err

    h = MyHuey("custom")

    @h.task()
    def failing_task(arg: str, flag: bool = False) -> None:
        raise RuntimeError(arg)

    r = failing_task("some-arg", flag=True)
    drain(h)
    with pytest.raises(TaskException) as info:
        r.get(blocking=True, timeout=1)
    md = info.value.metadata
    assert md["task_name"] == failing_task.name
    assert md["task_args"] == ("some-arg",) and md["task_kwargs"] == {"flag": True}
    assert "RuntimeError: some-arg" in md["traceback"]


def test_reset_rereads_the_store(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def value() -> str:
        return huey.get("value", peek=True)

    huey.put("value", "first")
    r = value()
    drain()
    assert r.get() == "first"
    huey.put("value", "second")
    huey.enqueue(huey.deserialize_task(huey.serialize_task(r.task)))  # Same id, runs again.
    drain()
    assert r.get() == "first"
    r.reset()
    assert r.get() == "second"


def test_result_group(huey: MemoryHuey, add: TaskWrapper, drain: Any) -> None:
    rg = huey.enqueue(group([add.s(i, i) for i in range(4)]))
    assert isinstance(rg, ResultGroup)
    assert len(rg) == 4
    assert all(isinstance(r, Result) for r in rg)
    assert rg.get() == [None] * 4  # Nothing ran yet.
    rg.reset()
    drain()
    assert rg[2] == 4  # Indexing blocks until that result is ready, then returns it.
    assert rg.get() == [0, 2, 4, 6]
    assert rg() == [0, 2, 4, 6]
    assert rg.is_ready()


def test_result_group_get_forwards_arguments(add: TaskWrapper, run_soon: Any) -> None:
    rg = add.map([(1, 1), (2, 2)])
    with pytest.raises(ResultTimeout):
        rg.get(blocking=True, timeout=0.01)
    run_soon(0.02)
    assert rg.get(blocking=True, timeout=5, preserve=True) == [2, 4]


def test_as_completed_yields_in_finishing_order(huey: MemoryHuey, add: TaskWrapper) -> None:
    rg = add.map([(1, 0), (2, 0), (3, 0)])
    tasks = [huey.dequeue() for _ in range(3)]
    huey.execute(tasks[2])
    huey.execute(tasks[0])

    def finish_last() -> None:
        time.sleep(0.05)
        huey.execute(tasks[1])

    thread = threading.Thread(target=finish_last)
    thread.start()
    assert list(rg.as_completed(max_delay=0.01)) == [1, 3, 2]
    thread.join()


def test_as_completed_raises_for_a_failure(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def maybe(fail: bool) -> str:
        if fail:
            raise ValueError("no")
        return "yes"

    rg = maybe.map([False, True])
    drain()
    results = rg.as_completed()
    assert next(results) == "yes"
    with pytest.raises(TaskException):
        next(results)


def test_result_for_results_disabled() -> None:
    h = MemoryHuey(results=False, immediate=True)

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) is None and add.map([(1, 2)]) is None
    assert h.result_count() == 0
