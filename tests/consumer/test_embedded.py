"""Embedded consumers (``huey.create_consumer(...).start()``) of every worker type.

Each test runs the real consumer in background threads of the test process against the
FileHuey test application (process workers fork from here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from apps.basic import build, read_events
from consumer_support import events_of, sleeper, wait_for

from huey.api import TaskLock
from huey.exceptions import TaskException

WORKER_TYPES = ["thread", "greenlet", "process"]


@pytest.fixture(params=WORKER_TYPES)
def worker_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(tmp_path: Path, worker_type: str) -> Any:
    return build(tmp_path, sleep=sleeper(worker_type))


def test_tasks_run_and_results_are_stored(app: Any, worker_type: str, start_consumer: Any) -> None:
    start_consumer(app.huey, workers=3, worker_type=worker_type)
    results = [app.add(i, i) for i in range(12)]
    assert [r.get(blocking=True, timeout=15) for r in results] == [2 * i for i in range(12)]


def test_startup_and_shutdown_hooks_run_once_per_worker(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=3, worker_type=worker_type)
    wait_for(lambda: len(events_of(app.directory, "startup")) >= 3, what="3 startups")
    assert consumer.stop(graceful=True, timeout=15)
    assert len(events_of(app.directory, "startup")) == 3
    assert len(events_of(app.directory, "shutdown")) == 3


def test_a_failing_task_does_not_kill_its_worker(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=1, worker_type=worker_type)
    failed = app.boom()
    assert app.add(1, 2).get(blocking=True, timeout=15) == 3
    with pytest.raises(TaskException, match="boom"):
        failed.get(blocking=True, timeout=5)
    assert consumer.pool.alive() == 1
    assert len(events_of(app.directory, "startup")) == 1  # Same worker, not a replacement.


def test_graceful_stop_lets_the_running_task_finish(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=2, worker_type=worker_type)
    result = app.nap(0.6, "long")
    wait_for(lambda: events_of(app.directory, "begin"), what="task start")
    assert consumer.stop(graceful=True, timeout=15)
    assert [e[0] for e in events_of(app.directory, "end")] == ["long"]
    assert result.get() == "long"
    assert events_of(app.directory, "interrupted") == []
    assert len(events_of(app.directory, "shutdown")) == 2


def test_forced_stop_interrupts_and_signals_the_running_task(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=2, worker_type=worker_type)
    result = app.nap(60, "endless")
    wait_for(lambda: events_of(app.directory, "begin"), what="task start")
    assert consumer.stop(graceful=False, timeout=15)
    assert events_of(app.directory, "end") == []
    interrupted = events_of(app.directory, "interrupted")
    assert [e[0] for e in interrupted] == [result.id]
    if worker_type == "process":  # Reported by the worker process that ran it.
        begun_in = events_of(app.directory, "begin")[0][1]
        assert interrupted[0][1] == begun_in
    # The recipe's receiver re-enqueued it; nothing else is pending.
    assert [t.id for t in app.huey.pending()] == [result.id]


def test_dead_workers_are_replaced_by_the_health_check(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=2, worker_type=worker_type)
    wait_for(lambda: len(events_of(app.directory, "startup")) == 2, what="2 startups")
    app.exit_worker()  # SystemExit in a task ends its worker.
    wait_for(lambda: len(events_of(app.directory, "startup")) == 3, what="a replacement worker")
    wait_for(lambda: consumer.pool.alive() == 2, what="2 live workers")
    assert app.add(2, 3).get(blocking=True, timeout=15) == 5


def test_max_tasks_recycles_workers_between_tasks(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=1, worker_type=worker_type, max_tasks=3)
    results = [app.nap(0, f"t{i}") for i in range(7)]
    assert [r.get(blocking=True, timeout=15) for r in results] == [f"t{i}" for i in range(7)]
    wait_for(lambda: len(events_of(app.directory, "startup")) == 3, what="the third worker")
    assert consumer.stop(graceful=True, timeout=15)
    # Three tasks per worker, each ending after its third: hooks once per worker life.
    kinds = "".join(
        {"startup": "S", "begin": "b", "shutdown": "E"}.get(event[0], "")
        for event in read_events(app.directory)
    )
    assert kinds == "SbbbESbbbESbE"
    assert sorted(tag for tag, _ in events_of(app.directory, "begin")) == sorted(
        f"t{i}" for i in range(7)
    )


def test_without_health_checks_dead_workers_stay_dead(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(
        app.huey, workers=1, worker_type=worker_type, check_worker_health=False
    )
    wait_for(lambda: events_of(app.directory, "startup"), what="startup")
    app.exit_worker()
    wait_for(lambda: consumer.pool.alive() == 0, what="the worker to end")
    app.add(1, 1)
    # Ten health-check intervals (0.1s) pass: no worker comes back to run it.
    time.sleep(1.0)
    assert len(events_of(app.directory, "startup")) == 1
    assert consumer.pool.alive() == 0
    assert app.huey.pending_count() == 1


def test_restart_replaces_workers_after_running_tasks_finish(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    consumer = start_consumer(app.huey, workers=2, worker_type=worker_type)
    wait_for(lambda: len(events_of(app.directory, "startup")) == 2, what="2 startups")
    result = app.nap(0.5, "before-restart")
    wait_for(lambda: events_of(app.directory, "begin"), what="task start")
    consumer.restart()
    wait_for(lambda: len(events_of(app.directory, "startup")) == 4, what="2 new workers")
    kinds = [event[0] for event in read_events(app.directory)]
    # The running task ended, and both old workers shut down, before new ones started.
    first_new = [i for i, kind in enumerate(kinds) if kind == "startup"][2]
    assert kinds.index("end") < first_new
    assert kinds[:first_new].count("shutdown") == 2
    assert kinds[first_new:] == ["startup", "startup"]
    assert result.get() == "before-restart"
    assert app.add(4, 4).get(blocking=True, timeout=15) == 8
    assert consumer.is_running


def test_scheduled_tasks_run_once_due(app: Any, worker_type: str, start_consumer: Any) -> None:
    import datetime as dt

    start_consumer(app.huey, workers=1, worker_type=worker_type)
    result = app.add.schedule((5, 5), delay=0.5)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert result.get(blocking=True, timeout=15) == 10
    task = result.task
    assert task.eta is not None and task.eta > before - dt.timedelta(seconds=1)
    assert dt.datetime.now(dt.UTC).replace(tzinfo=None) >= task.eta
    assert app.huey.scheduled_count() == 0


def test_a_task_over_its_timeout_fails_with_task_timeout(
    app: Any, worker_type: str, start_consumer: Any
) -> None:
    # Processes: SIGALRM; greenlets: gevent.Timeout; threads: task.check_timeout() (cooperative).
    start_consumer(app.huey, workers=1, worker_type=worker_type)
    task = app.cooperative if worker_type == "thread" else app.overrun
    result = task("slow")
    with pytest.raises(TaskException) as info:
        result.get(blocking=True, timeout=15)
    # huey 3.5.4's stored texts: check_timeout() and an enforced timeout word it differently.
    text = "timeout 0.5s" if worker_type == "thread" else "timeout (0.5s)"
    assert info.value.metadata["error"] == f"TaskTimeout({text!r})"
    assert [e[0] for e in events_of(app.directory, "timeout")] == [result.id]
    assert events_of(app.directory, "end") == []
    assert app.add(1, 1).get(blocking=True, timeout=15) == 2  # The worker carries on.


def test_locks_are_flushed_at_startup_when_asked(tmp_path: Path, start_consumer: Any) -> None:
    app = build(tmp_path)
    app.huey.lock_task("declared-lock").acquire()
    # Taken as another process would: lock_task() here would register it with this instance.
    TaskLock(app.huey, "extra-one").acquire()
    start_consumer(app.huey, flush_locks=True)  # -f: the locks declared with @lock_task.
    assert not app.huey.is_locked("declared-lock")
    assert app.huey.is_locked("extra-one")
    app.huey.lock_task("declared-lock").acquire()
    start_consumer(app.huey, extra_locks="extra-one")  # -L: named ones too (implies -f).
    assert not app.huey.is_locked("declared-lock")
    assert not app.huey.is_locked("extra-one")
