"""Running tasks: success, errors, retries, RetryTask, CancelExecution, expiry and timeouts.

Signal sequences and stored values follow what huey 3.5.4 does for the same calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

import pytest

from huey import CancelExecution, MemoryHuey, RetryTask
from huey.api import Task
from huey.exceptions import TaskException, TaskTimeout
from huey.utils import Error, utcnow


def stored(huey: MemoryHuey, task_id: str) -> Any:
    """The value in the result store under ``task_id``, without consuming it."""
    data = huey.storage.peek_data(task_id)
    return huey.serializer.deserialize(data)


def test_success_stores_the_value_and_signals(huey: MemoryHuey, signals: Any) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    r = add(1, 2)
    assert signals.take() == ["enqueued"]
    assert huey.execute(huey.dequeue()) == 3
    assert signals.take() == ["executing", "complete"]
    assert stored(huey, r.id) == 3


def test_error_is_stored_with_metadata_and_signalled(huey: MemoryHuey, signals: Any) -> None:
    @huey.task()
    def boom() -> None:
        raise ValueError("bad", 1)

    r = boom()
    signals.clear()
    assert huey.execute(huey.dequeue()) is None  # Not raised.
    assert signals.names() == ["executing", "error"]
    assert isinstance(signals[1][2][0], ValueError)  # The error signal carries the exception.
    error = stored(huey, r.id)
    assert isinstance(error, Error)
    assert set(error.metadata) == {"error", "retries", "traceback", "task_id"}
    assert error.metadata["error"] == "ValueError('bad', 1)"
    assert error.metadata["retries"] == 0 and error.metadata["task_id"] == r.id
    assert "Traceback" in error.metadata["traceback"]
    assert "ValueError: ('bad', 1)" in error.metadata["traceback"]
    with pytest.raises(TaskException) as info:
        r.get()
    assert info.value.metadata == error.metadata
    assert str(info.value) == "ValueError('bad', 1)"


def test_retrying_signal_carries_the_failed_run(huey: MemoryHuey, signals: Any) -> None:
    @huey.task(retries=2)
    def boom() -> None:
        raise ValueError

    boom()
    task = huey.dequeue()
    huey.execute(task)
    (retrying,) = [t for s, t, _ in signals if s == "retrying"]
    (enqueued,) = [t for s, t, _ in signals if s == "enqueued"][-1:]
    assert retrying is task and retrying.retries == 2  # As it failed...
    assert enqueued is not task and enqueued.retries == 1  # ...and the copy queued again.


def test_retries_requeue_and_store_each_failure(huey: MemoryHuey, signals: Any) -> None:
    @huey.task(retries=2)
    def boom() -> None:
        raise ValueError("x")

    r = boom()
    signals.clear()
    seen = []
    for expected_left in (1, 0):
        huey.execute(huey.dequeue())
        assert signals.take() == ["executing", "error", "retrying", "enqueued"]
        (task,) = huey.pending()
        assert task.retries == expected_left and task.id == r.id and task.eta is None
        seen.append(stored(huey, r.id).metadata["retries"])
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "error"]
    assert huey.pending_count() == 0
    # Each stored error shows the retries left when it happened.
    assert [*seen, stored(huey, r.id).metadata["retries"]] == [2, 1, 0]


def test_store_intermediate_errors_false(drain: Any) -> None:
    h = MemoryHuey(store_intermediate_errors=False)

    @h.task(retries=1)
    def boom() -> None:
        raise ValueError("x")

    r = boom()
    h.execute(h.dequeue())
    assert h.result_count() == 0 and h.pending_count() == 1
    drain(h)
    with pytest.raises(TaskException):
        r.get()


def test_a_retry_that_succeeds_and_result_reset(huey: MemoryHuey, drain: Any) -> None:
    attempts: list[int] = []

    @huey.task(retries=1)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first time")
        return "ok"

    r = flaky()
    huey.execute(huey.dequeue())
    with pytest.raises(TaskException):
        r.get()
    drain()
    with pytest.raises(TaskException):  # The error is cached in the handle...
        r.get()
    r.reset()  # ...until reset.
    assert r.get() == "ok"


def test_retry_delay_schedules_the_retry(huey: MemoryHuey, signals: Any, later: Any) -> None:
    @huey.task(retries=2, retry_delay=10)
    def boom() -> None:
        raise ValueError("x")

    r = boom()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "error", "retrying", "scheduled"]
    assert huey.pending_count() == 0
    (task,) = huey.scheduled()
    assert task.id == r.id and task.retries == 1
    assert later(9) < task.eta < later(11)
    assert huey.read_schedule(later(5)) == []
    (due,) = huey.read_schedule(later(11))
    assert due.id == r.id


def test_retry_backoff_multiplies_the_delay(huey: MemoryHuey, later: Any) -> None:
    @huey.task(retries=3, retry_delay=10, retry_backoff=2)
    def boom() -> None:
        raise ValueError("x")

    boom()
    task = huey.dequeue()
    delays = []
    for _ in range(3):
        huey.execute(task, task.eta)
        (task,) = huey.read_schedule(later(1000))
        delays.append((task.eta - utcnow()).total_seconds())
    assert [round(d) for d in delays] == [10, 20, 40]
    assert task.retry_delay == 80 and task.retries == 0


def test_retry_task_retries_without_using_retries(huey: MemoryHuey, signals: Any) -> None:
    calls: list[int] = []

    @huey.task(retries=2)
    def again() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryTask("not yet")
        return "done"

    r = again()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "retrying", "enqueued"]  # No error signal...
    assert huey.result_count() == 0  # ...and nothing stored.
    assert huey.pending()[0].retries == 2
    huey.execute(huey.dequeue())
    assert huey.pending()[0].retries == 2
    assert huey.execute(huey.dequeue()) == "done"
    assert r.get() == "done"


def test_retry_task_without_retries_configured(huey: MemoryHuey) -> None:
    @huey.task()
    def again() -> None:
        raise RetryTask()

    again()
    for _ in range(3):
        huey.execute(huey.dequeue())
        assert huey.pending()[0].retries == 0


def test_retry_task_delay_and_eta_override_retry_delay(
    huey: MemoryHuey, signals: Any, later: Any
) -> None:
    when = dt.datetime(2031, 1, 1, 0, 0)

    @huey.task(retry_delay=5)
    def by_delay() -> None:
        raise RetryTask(delay=30)

    @huey.task(retries=1)
    def by_eta() -> None:
        raise RetryTask(eta=when)

    by_delay()
    by_eta()
    signals.clear()
    huey.execute(huey.dequeue())
    huey.execute(huey.dequeue())
    assert signals.names() == ["executing", "retrying", "scheduled"] * 2
    first, second = sorted(huey.scheduled(), key=lambda t: t.eta)
    assert first.name == by_delay.name and later(29) < first.eta < later(31)
    assert first.retry_delay == 5
    assert (second.name, second.eta, second.retries) == (by_eta.name, when, 1)


@pytest.mark.parametrize(
    ("retries", "retry", "runs", "stored_retries", "requeued_with"),
    [
        (0, None, ["canceled"], [0], None),
        (0, True, ["canceled", "retrying", "enqueued"], [1], 0),
        (0, False, ["canceled"], [0], None),
        (2, None, ["canceled", "retrying", "enqueued"], [2], 1),
        (2, True, ["canceled", "retrying", "enqueued"], [2], 1),
        (2, False, ["canceled"], [0], None),
    ],
)
def test_cancel_execution_in_the_task_body(
    huey: MemoryHuey,
    signals: Any,
    retries: int,
    retry: bool | None,
    runs: list[str],
    stored_retries: list[int],
    requeued_with: int | None,
) -> None:
    @huey.task(retries=retries)
    def body() -> None:
        raise CancelExecution("stop", retry=retry)

    r = body()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", *runs]
    error = stored(huey, r.id)
    assert error.metadata["error"] == "CancelExecution('stop')"
    assert error.metadata["retries"] == stored_retries[0]
    if requeued_with is None:
        assert huey.pending_count() == 0
    else:
        assert huey.pending()[0].retries == requeued_with


def test_cancel_execution_retry_true_always_retries_again(huey: MemoryHuey) -> None:
    @huey.task()
    def body() -> None:
        raise CancelExecution(retry=True)

    body()
    for _ in range(3):
        huey.execute(huey.dequeue())
        assert huey.pending()[0].retries == 0


def test_expires_resolved_at_enqueue(huey: MemoryHuey, later: Any) -> None:
    @huey.task(expires=30)
    def f() -> None:
        pass

    f()
    huey.enqueue(f.s(expires=dt.timedelta(minutes=5)))
    huey.enqueue(f.s(expires=dt.datetime(2031, 1, 1)))
    a, b, c = huey.pending()
    assert (a.expires, later(29) < a.expires_resolved < later(31)) == (30, True)
    assert later(299) < b.expires_resolved < later(301)
    assert c.expires_resolved == dt.datetime(2031, 1, 1)


def test_expiry_of_retries(huey: MemoryHuey, later: Any) -> None:
    @huey.task(expires=30, retries=1)
    def queued_retry() -> None:
        raise ValueError

    @huey.task(expires=30, retries=1, retry_delay=60)
    def scheduled_retry() -> None:
        raise ValueError

    queued_retry()
    first = huey.dequeue()
    huey.execute(first, later(20))
    # Re-enqueued: a relative expiry counts from this enqueue, as in huey 3.5.4...
    assert huey.pending()[0].expires_resolved > first.expires_resolved
    huey.flush()
    scheduled_retry()
    first = huey.dequeue()
    huey.execute(first)
    # ...while a retry that goes through the schedule keeps it, so this one expires.
    assert huey.scheduled()[0].expires_resolved == first.expires_resolved


def test_expired_task_is_skipped(huey: MemoryHuey, signals: Any, later: Any) -> None:
    ran: list[int] = []

    @huey.task(expires=10)
    def f() -> int:
        ran.append(1)
        return 1

    r = f()
    task = huey.dequeue()
    signals.clear()
    assert huey.execute(task, later(60)) is None
    assert signals.names() == ["expired"]
    assert ran == [] and huey.result_count() == 0 and r.get() is None
    f()
    assert huey.execute(huey.dequeue(), later(5)) == 1  # Not expired yet.
    f().revoke()
    signals.clear()
    huey.execute(huey.dequeue(), later(60))
    assert signals.names() == ["revoked"]  # Revocation is checked first.


def test_task_not_yet_due_goes_to_the_schedule(huey: MemoryHuey, signals: Any, later: Any) -> None:
    @huey.task()
    def f() -> str:
        return "ran"

    r = f.schedule(delay=60)
    assert huey.pending_count() == 1  # Enqueue writes to the queue, even with a future eta.
    task = huey.dequeue()
    assert huey.ready_to_run(task) is False and huey.ready_to_run(task, later(61)) is True
    signals.clear()
    assert huey.execute(task) is None
    assert signals.names() == ["scheduled"]
    assert huey.scheduled_count() == 1 and huey.scheduled()[0].id == r.id
    assert huey.read_schedule() == []
    (due,) = huey.read_schedule(later(61))
    assert huey.scheduled_count() == 0
    assert huey.execute(due, later(61)) == "ran"


def test_add_schedule(huey: MemoryHuey, signals: Any) -> None:
    @huey.task()
    def f() -> None:
        pass

    task = f.s(eta=dt.datetime(2030, 1, 1))
    huey.add_schedule(task)
    assert signals.names() == ["scheduled"]
    assert [t.id for t in huey.read_schedule(dt.datetime(2030, 1, 1))] == [task.id]
    with pytest.raises(ValueError):
        huey.add_schedule(f.s())


def test_cooperative_timeout(huey: MemoryHuey, signals: Any) -> None:
    @huey.task(timeout=0.01, context=True, retries=1)
    def slow(task: Task) -> None:
        assert task.time_remaining <= 0.01
        time.sleep(0.02)
        assert task.is_timed_out and task.time_remaining == 0  # Never below zero (huey 3.5.4).
        task.check_timeout()

    r = slow()
    assert huey.pending()[0].time_remaining == 0.01  # The whole timeout before it runs.
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "timeout", "retrying", "enqueued"]  # No "error".
    assert stored(huey, r.id).metadata["retries"] == 1
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "timeout"]
    with pytest.raises(TaskException) as info:
        r.get()
    assert info.value.metadata["error"] == "TaskTimeout('timeout 0.01s')"  # huey 3.5.4's text


def test_no_timeout_means_infinite_time(huey: MemoryHuey, drain: Any) -> None:
    remaining: list[float] = []

    @huey.task(context=True)
    def f(task: Task) -> bool:
        remaining.append(task.time_remaining)
        task.check_timeout()
        return task.is_timed_out

    f()
    assert drain() == [False]
    assert remaining == [float("inf")]
    with pytest.raises(TaskTimeout):
        t = f.s(timeout=1)
        t._deadline = time.monotonic() - 1  # As if it started two seconds ago.
        t.check_timeout()


def test_unpicklable_return_value_fails_the_task(huey: MemoryHuey, signals: Any) -> None:
    import threading

    @huey.task()
    def returns_a_lock() -> Any:
        return threading.Lock()

    r = returns_a_lock()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.names() == ["executing", "error"]
    with pytest.raises(TaskException, match="SerializationError"):
        r.get()


# -- immediate mode -----------------------------------------------------------------------------


def test_immediate_mode_runs_the_same_code_paths() -> None:
    h = MemoryHuey(immediate=True)
    log: list[str] = []
    h.signal()(lambda signal, task, *a: log.append(signal))
    attempts: list[int] = []

    @h.task(retries=2)
    def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) < 3:
            raise ValueError("again")
        return n

    r = flaky(7)
    assert r.get() == 7 and attempts == [7, 7, 7]
    assert log == ["enqueued", "executing", "error", "retrying"] * 2 + [
        "enqueued",
        "executing",
        "complete",
    ]

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    assert h.enqueue(add.s(1, 2).then(add, 3)).get() == [3, 6]
    r = add.schedule((1, 2), delay=60)  # Not due: scheduled, even in immediate mode.
    assert r.get() is None and h.scheduled_count() == 1


def test_execute_returns_none_and_keeps_in_flight_empty(huey: MemoryHuey) -> None:
    @huey.task()
    def boom() -> None:
        raise ValueError

    boom()
    huey.execute(huey.dequeue())
    assert huey._tasks_in_flight == set()


# -- what is logged ---------------------------------------------------------------------------


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "huey"]


def test_each_task_logs_its_start_and_finish_in_huey_words(
    huey: MemoryHuey, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)
    task = huey.pending()[0]
    caplog.set_level(logging.INFO, logger="huey")
    huey.execute(huey.dequeue())
    # huey 3.5.4's "Executing %s" and "%s executed in %0.3fs", which log searches rely on.
    start, finish = _messages(caplog)
    assert start == f"Executing {task}"
    assert re.fullmatch(re.escape(f"{task} executed in ") + r"\d+\.\d{3}s", finish), finish
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_failures_say_which_attempt_failed_and_when_the_next_runs(
    huey: MemoryHuey, caplog: pytest.LogCaptureFixture, later: Any
) -> None:
    @huey.task(retries=2, retry_delay=5)
    def flaky() -> None:
        raise ValueError("bad")

    r = flaky()
    caplog.set_level(logging.ERROR, logger="huey")
    huey.execute(huey.dequeue())
    for _ in range(2):
        (task,) = huey.read_schedule(later(60))
        huey.execute(task, later(60))
    label = f"{flaky.task_class.qualified_name}: {r.id}"
    assert _messages(caplog) == [
        f"Unhandled exception in task {label}; attempt 1 of 3 failed, retrying in 5s",
        f"Unhandled exception in task {label}; attempt 2 of 3 failed, retrying in 5s",
        f"Unhandled exception in task {label}; attempt 3 of 3 failed, no retries left",
    ]


def test_a_failure_without_retries_and_retries_given_per_call(
    huey: MemoryHuey, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.task()
    def boom() -> None:
        raise ValueError("bad")

    once = boom()
    more = boom.schedule(retries=3, delay=0)  # More than declared: the first count is unknown.
    caplog.set_level(logging.ERROR, logger="huey")
    huey.execute(huey.dequeue())
    huey.execute(huey.dequeue())
    name = boom.task_class.qualified_name
    assert _messages(caplog) == [
        f"Unhandled exception in task {name}: {once.id}.",
        f"Unhandled exception in task {name}: {more.id}; failed (3 retries left), retrying now",
    ]


def test_a_timeout_is_one_line_with_its_outlook(
    huey: MemoryHuey, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.task(timeout=0.01, context=True, retries=1)
    def slow(task: Task) -> None:
        time.sleep(0.02)
        task.check_timeout()

    r = slow()
    caplog.set_level(logging.ERROR, logger="huey")
    huey.execute(huey.dequeue())
    (record,) = caplog.records
    assert record.getMessage() == (
        f"Task {slow.task_class.qualified_name}: {r.id} timed out after 0.01s; "
        "attempt 1 of 2 failed, retrying now"
    )
    assert record.exc_info is None


def helper_that_raises() -> None:
    raise ValueError("deep")


def test_the_logged_traceback_starts_at_the_task_code(
    huey: MemoryHuey, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.task()
    def boom() -> None:
        helper_that_raises()

    boom()
    caplog.set_level(logging.ERROR, logger="huey")
    huey.execute(huey.dequeue())
    (record,) = caplog.records
    assert record.exc_info is not None
    text = logging.Formatter().formatException(record.exc_info)
    frames = [line for line in text.splitlines() if line.startswith("  File ")]
    # The task's function, then what it called: none of the frames of huey that ran it.
    assert [frame.rsplit(", in ", 1)[1] for frame in frames] == ["boom", "helper_that_raises"]
    assert text.endswith("ValueError: deep")
