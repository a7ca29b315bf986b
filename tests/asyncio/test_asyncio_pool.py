"""``huey_consumer -k asyncio``: real consumer processes on SQLite running async and plain tasks."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from asyncio_support import (
    CONSUMER_SCRIPT,
    events,
    peak_concurrency,
    read_events,
    signals,
    wait_for,
)

from huey import chord
from huey._workers import load_worker_type, worker_types
from huey.contrib.asyncio import AsyncioPool
from huey.exceptions import TaskException

pytestmark = pytest.mark.slow

K = ["-k", "asyncio"]


def get(result: Any, timeout: float = 20) -> Any:
    return result.get(blocking=True, timeout=timeout)


def error_of(result: Any, timeout: float = 20) -> str:
    with pytest.raises(TaskException) as info:
        get(result, timeout)
    return str(info.value.metadata["error"])


def test_registered_as_a_worker_type() -> None:
    assert "asyncio" in worker_types()
    assert load_worker_type("asyncio") is AsyncioPool
    import subprocess

    help_text = subprocess.run(
        [str(CONSUMER_SCRIPT), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "asyncio" in help_text


def test_runs_up_to_w_tasks_at_once_on_one_loop(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "5")
    consumer.wait_started()
    results = [app.nap(0.4, f"t{i}") for i in range(15)]
    assert [get(r) for r in results] == [f"t{i}" for i in range(15)]
    # Never more than -w at once, and -w at once while enough were queued.
    assert peak_concurrency(app.directory) == 5
    # Every async body ran on one thread: the event loop's.
    assert len({who for _, who in events(app.directory, "begin")}) == 1


def test_many_async_tasks_overlap(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "200")
    consumer.wait_started()
    results = [app.nap(1.0, f"t{i}") for i in range(200)]
    assert len([get(r, 60) for r in results]) == 200
    # All 200 were waiting at the same time (they could only overlap on the one loop).
    assert peak_concurrency(app.directory) == 200


def test_plain_tasks_run_on_threads_and_never_block_the_loop(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "4")
    consumer.wait_started()
    loop_thread = get(app.where())
    assert get(app.plain_add(2, 3)) == 5
    blocking = [app.plain_nap(1.5, f"p{i}") for i in range(2)]
    wait_for(lambda: len(events(app.directory, "begin")) == 2, what="plain tasks to start")
    # While two threads sit in time.sleep loops, async tasks still run on the loop.
    started = time.monotonic()
    assert get(app.add(1, 1)) == 2
    assert get(app.where()) == loop_thread
    assert time.monotonic() - started < 1.2, "an async task waited for a blocking plain task"
    assert [get(r) for r in blocking] == ["p0", "p1"]
    plain_threads = {who for tag, who in events(app.directory, "begin") if tag.startswith("p")}
    assert len(plain_threads) == 2 and loop_thread not in plain_threads
    assert get(app.plain_where()) != loop_thread


def test_async_timeout_cancels_the_body(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "2")
    consumer.wait_started()
    result = app.overrun("slow")
    assert "TaskTimeout" in error_of(result, 10)
    assert events(app.directory, "unwound") == [["slow"]]  # Cancelled at its await.
    assert events(app.directory, "end") == []
    assert signals(app.directory, "timeout", "overrun") == [result.id]
    assert get(app.add(2, 2)) == 4  # The loop carries on.


def test_retries_errors_and_signals(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "3")
    consumer.wait_started()
    result = app.flaky("a", 2)
    # Intermediate errors are stored too (store_intermediate_errors): wait for the outcome.
    wait_for(lambda: signals(app.directory, "complete", "flaky"), what="the third try")
    assert get(result) == 3
    assert signals(app.directory, "retrying", "flaky") == [result.id] * 2
    assert signals(app.directory, "error", "flaky") == [result.id] * 2

    failing = app.flaky("b", 5)  # Two retries are not enough.
    wait_for(lambda: signals(app.directory, "error", "flaky").count(failing.id) == 3)
    assert "try 3 fails" in error_of(failing)

    boom = app.boom()
    assert "async boom" in error_of(boom)
    for name in ("executing", "error"):
        assert boom.id in signals(app.directory, name, "boom")
    done = app.add(1, 2)
    assert get(done) == 3
    # Sent after the result is stored.
    wait_for(lambda: done.id in signals(app.directory, "complete", "add"), what="complete")


def test_locks_hold_across_awaits(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "4")
    consumer.wait_started()
    first = app.exclusive(1.0, "holder")
    wait_for(lambda: events(app.directory, "begin"), what="the lock holder to start")
    assert app.huey.is_locked("async-lock")
    second = app.exclusive(0, "refused")
    assert "TaskLockedException" in error_of(second)
    assert get(first) == "holder"
    assert not app.huey.is_locked("async-lock")
    assert second.id in signals(app.directory, "locked", "exclusive")


def test_rate_limit(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "1")
    consumer.wait_started()
    assert [get(app.limited(n)) for n in (1, 2)] == [1, 2]
    third = app.limited(3)
    assert "RateLimitExceeded" in error_of(third)
    assert third.id in signals(app.directory, "rate-limited", "limited")


def test_pipelines_chords_context_and_mixed_kinds(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "8")
    consumer.wait_started()
    pipeline = app.add.s(1, 2).then(app.plain_add, 10).then(app.double)
    assert get(app.huey.enqueue(pipeline)) == [3, 13, 26]

    handle = app.huey.enqueue(chord([app.double.s(n) for n in range(5)], app.total.s()))
    assert get(handle) == 20
    assert get(app.double.map(range(4))) == [0, 2, 4, 6]

    assert get(app.in_context(7)) == "gate-value:7"
    gate = [word for (word,) in events(app.directory, "gate")]
    assert gate == ["open", "closed"]  # The context spans the whole coroutine.
    assert events(app.directory, "inside") == [["gate-value"]]

    result = app.with_task()
    assert get(result) == result.id


def test_sigint_lets_running_tasks_finish(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "3")
    consumer.wait_started()
    running = [app.nap(1.5, "a1"), app.nap(1.5, "a2"), app.plain_nap(1.5, "p1")]
    wait_for(lambda: len(events(app.directory, "begin")) == 3, what="three tasks to start")
    consumer.send(signal.SIGINT)
    time.sleep(0.3)
    queued = app.add(1, 1)  # Enqueued after the stop request: never taken.
    assert consumer.wait(20) == 0
    assert sorted(tag for (tag,) in events(app.directory, "end")) == ["a1", "a2", "p1"]
    assert [get(r) for r in running] == ["a1", "a2", "p1"]
    assert events(app.directory, "cancelled") == []
    assert signals(app.directory, "interrupted") == []
    assert app.huey.pending_count() == 1 and not queued.is_ready()
    assert len(events(app.directory, "shutdown")) == 1


def test_sigterm_cancels_running_tasks_and_reports_them(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "3")
    consumer.wait_started()
    running = [app.nap(60, "a1"), app.nap(60, "a2"), app.plain_nap(60, "p1")]
    wait_for(lambda: len(events(app.directory, "begin")) == 3, what="three tasks to start")
    started = time.monotonic()
    consumer.send(signal.SIGTERM)
    assert consumer.wait(20) == 0
    assert time.monotonic() - started < 10
    # Async bodies were cancelled at their await; the plain one got WorkerInterrupted.
    assert sorted(tag for (tag,) in events(app.directory, "cancelled")) == ["a1", "a2"]
    assert events(app.directory, "end") == []
    assert sorted(signals(app.directory, "interrupted")) == sorted(r.id for r in running)
    # The recipe's receiver enqueued them again: nothing is lost.
    assert app.huey.pending_count() == 3
    assert len(events(app.directory, "shutdown")) == 1


def test_sighup_restarts_the_loop(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "2")
    consumer.wait_started()
    running = app.nap(1.0, "across")
    wait_for(lambda: events(app.directory, "begin"), what="the task to start")
    consumer.send(signal.SIGHUP)
    wait_for(lambda: len(events(app.directory, "startup")) == 2, what="a second startup hook")
    assert get(running) == "across"  # It finished before the restart.
    assert len(events(app.directory, "shutdown")) == 1  # The old loop's.
    assert get(app.add(1, 2)) == 3  # Served by the new loop.
    assert "workers restarted: 1 event loop running up to 2 tasks at once" in consumer.log()
    consumer.send(signal.SIGINT)
    assert consumer.wait() == 0


def test_max_tasks_recycles_the_loop_and_runs_every_task_once(app: Any, run_consumer: Any) -> None:
    # The loop is the pool's one worker: after -M tasks it takes no more, lets them finish and
    # ends; the health check starts a new loop. Two fetchers never take more than -M together.
    consumer = run_consumer(*K, "-w", "3", "-M", "4")
    consumer.wait_started()
    results = [app.nap(0.2, f"t{i}") for i in range(10)]
    assert [get(r) for r in results] == [f"t{i}" for i in range(10)]
    wait_for(lambda: len(events(app.directory, "startup")) == 3, what="the third loop")
    assert len(events(app.directory, "shutdown")) == 2
    consumer.send(signal.SIGINT)
    assert consumer.wait() == 0
    begun = [tag for tag, _ in events(app.directory, "begin")]
    assert sorted(begun) == sorted(f"t{i}" for i in range(10))  # Once each.
    # Tasks per loop life (a loop starts once the previous one has ended): exactly -M.
    kinds = "".join(
        {"startup": "S", "begin": "b"}.get(e[0], "") for e in read_events(app.directory)
    )
    assert kinds == "SbbbbSbbbbSbb"
    log = consumer.log()
    assert log.count("the asyncio worker loop took 4 tasks, recycling") == 2
    assert log.count("the asyncio worker loop was recycled, starting a new one") == 2
    assert "loop ended" not in log
    assert "each recycled after 4 tasks" in log


def test_a_task_raising_system_exit_ends_only_itself(app: Any, run_consumer: Any) -> None:
    consumer = run_consumer(*K, "-w", "3")
    consumer.wait_started()
    neighbour = app.nap(1.0, "neighbour")
    wait_for(lambda: events(app.directory, "begin"), what="the neighbour to start")
    app.exit_loop()
    wait_for(lambda: events(app.directory, "exiting"), what="the exiting task")
    assert get(neighbour) == "neighbour"
    assert get(app.add(3, 4)) == 7
    assert len(events(app.directory, "startup")) == 1  # The same loop throughout.
    assert "ended by SystemExit(3)" in consumer.log()


def test_a_dead_loop_is_replaced_and_loses_no_task(tmp_path: Any) -> None:
    """Embedded: the loop dies while its fetchers wait in a blocking dequeue; the health
    check starts a new loop, and a task a dead fetcher took off the queue is put back."""
    import sys

    from async_apps.app import build

    app = build(tmp_path)
    consumer = app.huey.create_consumer(
        workers=2, worker_type="asyncio", health_check_interval=0.1, periodic=False
    )
    consumer.start()
    try:
        pool = consumer.pool
        assert get(app.add(1, 1)) == 2
        time.sleep(0.2)  # The fetchers are back in a blocking dequeue.
        pool._service.loop.call_soon_threadsafe(sys.exit, 3)
        results = [app.add(n, n) for n in range(4)]
        assert [get(r) for r in results] == [0, 2, 4, 6]
        wait_for(lambda: len(events(app.directory, "startup")) == 2, what="a new loop")
        assert app.huey.pending_count() == 0
    finally:
        assert consumer.stop(graceful=False, timeout=20)
