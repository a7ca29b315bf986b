"""Signals and hooks: pre/post-execute, startup/shutdown, signal/disconnect_signal."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from huey import CancelExecution, MemoryHuey, RetryTask
from huey import signals as S
from huey.api import Task
from huey.exceptions import MessageError

# -- pre/post-execute hooks ---------------------------------------------------------------------


def test_hooks_run_in_order_around_the_task(huey: MemoryHuey, drain: Any) -> None:
    events: list[Any] = []

    @huey.pre_execute()
    def first(task: Task) -> None:
        events.append(("pre1", task.name))

    @huey.pre_execute(name="second")
    def second_hook(task: Task) -> None:
        events.append(("pre2", task.name))

    @huey.post_execute()
    def after(task: Task, value: Any, exc: BaseException | None) -> None:
        events.append(("post", value, exc))

    @huey.task()
    def job(n: int) -> int:
        events.append(("run", n))
        return n * 2

    @huey.task()
    def fails() -> None:
        raise KeyError("x")

    job(3)
    fails()
    drain()
    assert events[:4] == [("pre1", job.name), ("pre2", job.name), ("run", 3), ("post", 6, None)]
    assert events[4:6] == [("pre1", fails.name), ("pre2", fails.name)]
    label, value, exc = events[6]
    assert (label, value) == ("post", None) and isinstance(exc, KeyError)


def test_post_execute_runs_before_what_follows_the_outcome(huey: MemoryHuey) -> None:
    events: list[str] = []
    huey.signal()(lambda signal, task, *args: events.append(signal))
    huey.pre_execute()(lambda task: events.append("pre"))
    huey.post_execute()(lambda task, value, exc: events.append(f"post {value!r} {exc!r}"))

    @huey.task(retries=1)
    def flaky(fail: bool) -> str:
        if fail:
            raise ValueError("x")
        return "ok"

    flaky(False)
    flaky(True)
    events.clear()
    huey.execute(huey.dequeue())
    assert events == ["executing", "pre", "post 'ok' None", "complete"]
    events.clear()
    huey.execute(huey.dequeue())
    assert events == [
        "executing",
        "pre",
        "error",
        "post None ValueError('x')",
        "retrying",
        "enqueued",
    ]


def test_cancel_execution_in_pre_execute(huey: MemoryHuey, signals: Any) -> None:
    ran: list[int] = []

    @huey.pre_execute()
    def gate(task: Task) -> None:
        raise CancelExecution("Sunday -- no work will be done.", retry=True)

    @huey.post_execute()
    def after(task: Task, value: Any, exc: BaseException | None) -> None:
        ran.append(2)

    @huey.task(retries=2)
    def job() -> None:
        ran.append(1)

    r = job()
    signals.clear()
    assert huey.execute(huey.dequeue()) is None
    assert signals.names() == ["executing", "canceled"]
    assert ran == []  # Neither the task nor the post-execute hooks ran...
    assert huey.pending_count() == 0 and huey.result_count() == 0  # ...no retry, nothing stored.
    assert r.get() is None


def test_hook_errors_are_logged_not_raised(
    huey: MemoryHuey, drain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.pre_execute()
    def broken_pre(task: Task) -> None:
        raise RuntimeError("pre broke")

    @huey.post_execute()
    def broken_post(task: Task, value: Any, exc: BaseException | None) -> None:
        raise RuntimeError("post broke")

    @huey.on_startup()
    def broken_startup() -> None:
        raise RuntimeError("startup broke")

    @huey.on_shutdown()
    def broken_shutdown() -> None:
        raise RuntimeError("shutdown broke")

    @huey.task()
    def job() -> str:
        return "still ran"

    r = job()
    with caplog.at_level(logging.ERROR, logger="huey"):
        assert drain() == ["still ran"]
        huey.run_startup_hooks()
        huey.run_shutdown_hooks()
    assert r.get() == "still ran"
    messages = "\n".join(record.getMessage() for record in caplog.records)
    for name in ("broken_pre", "broken_post", "broken_startup", "broken_shutdown"):
        assert name in messages


def test_startup_and_shutdown_hooks(huey: MemoryHuey) -> None:
    events: list[str] = []

    @huey.on_startup()
    def open_db() -> None:
        events.append("open")

    @huey.on_startup(name="cache")
    def warm() -> None:
        events.append("warm")

    @huey.on_shutdown()
    def close_db() -> None:
        events.append("close")

    huey.run_startup_hooks()
    assert events == ["open", "warm"]
    huey.run_shutdown_hooks()
    assert events == ["open", "warm", "close"]


@pytest.mark.parametrize("kind", ["pre_execute", "post_execute", "on_startup", "on_shutdown"])
def test_unregister_hooks_by_name_and_by_function(huey: MemoryHuey, kind: str) -> None:
    register = getattr(huey, kind)
    unregister = getattr(huey, f"unregister_{kind}")
    calls: list[str] = []

    @register()
    def by_function(*args: Any) -> None:
        calls.append("function")

    @register(name="named")
    def by_name(*args: Any) -> None:
        calls.append("name")

    assert unregister(by_function) is True
    assert unregister(by_function) is False
    assert unregister("named") is True
    assert unregister("named") is False
    assert unregister("never-registered") is False

    @huey.task()
    def job() -> None:
        pass

    job()
    huey.execute(huey.dequeue())
    huey.run_startup_hooks()
    huey.run_shutdown_hooks()
    assert calls == []


# -- signal() and disconnect_signal() -----------------------------------------------------------


def test_signal_handlers_for_some_or_all_signals(huey: MemoryHuey, drain: Any) -> None:
    specific: list[tuple[str, Any]] = []
    everything: list[str] = []

    @huey.signal(S.SIGNAL_ERROR, S.SIGNAL_LOCKED)
    def not_run_handler(signal: str, task: Task, exc: Any = None) -> None:
        specific.append((signal, exc))

    @huey.signal()
    def all_handler(signal: str, task: Task, *args: Any) -> None:
        everything.append(signal)

    @huey.task()
    def fails() -> None:
        raise ValueError("x")

    fails()
    drain()
    ((signal, exc),) = specific
    assert signal == S.SIGNAL_ERROR and isinstance(exc, ValueError)
    assert everything == ["enqueued", "executing", "error"]

    huey.disconnect_signal(all_handler, S.SIGNAL_EXECUTING)
    fails()
    drain()
    assert everything[3:] == ["enqueued", "error"]
    huey.disconnect_signal(all_handler)  # From every signal.
    huey.disconnect_signal(not_run_handler, S.SIGNAL_ERROR)
    fails()
    drain()
    assert len(everything) == 5 and len(specific) == 2


def test_a_failing_signal_handler_does_not_stop_the_task(
    huey: MemoryHuey, drain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @huey.signal(S.SIGNAL_EXECUTING)
    def broken(signal: str, task: Task) -> None:
        raise RuntimeError("handler broke")

    @huey.task()
    def job() -> int:
        return 1

    r = job()
    with caplog.at_level(logging.ERROR):
        drain()
    assert r.get() == 1 and "broken" in caplog.text


def test_unknown_signal_name(huey: MemoryHuey) -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        huey.signal("no-such-signal")(lambda *a: None)


def test_signal_names() -> None:
    assert (S.SIGNAL_CANCELED, S.SIGNAL_COMPLETE, S.SIGNAL_ERROR, S.SIGNAL_EXECUTING) == (
        "canceled",
        "complete",
        "error",
        "executing",
    )
    assert (S.SIGNAL_EXPIRED, S.SIGNAL_LOCKED, S.SIGNAL_RETRYING, S.SIGNAL_REVOKED) == (
        "expired",
        "locked",
        "retrying",
        "revoked",
    )
    assert (S.SIGNAL_SCHEDULED, S.SIGNAL_INTERRUPTED, S.SIGNAL_ENQUEUED) == (
        "scheduled",
        "interrupted",
        "enqueued",
    )
    assert (S.SIGNAL_TIMEOUT, S.SIGNAL_RATE_LIMITED) == ("timeout", "rate-limited")


def test_every_signal_at_its_moment(huey: MemoryHuey, signals: Any, later: Any) -> None:
    """One scenario per signal; together they send every signal huey.signals defines."""
    seen: set[str] = set()

    def run(task: Task | None = None, timestamp: Any = None) -> list[str]:
        huey.execute(task or huey.dequeue(), timestamp)
        names = signals.take()
        seen.update(names)
        return names

    @huey.task()
    def ok() -> int:
        return 1

    @huey.task(retries=1)
    def fails() -> None:
        raise ValueError

    @huey.task()
    def cancels() -> None:
        raise CancelExecution(retry=False)

    @huey.task()
    @huey.lock_task("held")
    def locked() -> None:
        pass

    @huey.task(context=True, timeout=0.001)
    def times_out(task: Task) -> None:
        while True:
            task.check_timeout()

    @huey.task(retry_delay=1)
    @huey.rate_limit("rl", limit=1, per=3600)
    def limited() -> None:
        pass

    @huey.task()
    def retried() -> None:
        raise RetryTask(delay=5)

    ok()
    assert signals.take() == [S.SIGNAL_ENQUEUED]
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_COMPLETE]
    fails()
    signals.clear()
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_ERROR, S.SIGNAL_RETRYING, S.SIGNAL_ENQUEUED]
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_ERROR]  # The last retry.
    ok.schedule(delay=60)
    signals.clear()
    assert run() == [S.SIGNAL_SCHEDULED]
    huey.enqueue(ok.s(expires=1))
    signals.clear()
    assert run(timestamp=later(10)) == [S.SIGNAL_EXPIRED]
    r = ok()
    r.revoke()
    signals.clear()
    assert run() == [S.SIGNAL_REVOKED]
    cancels()
    signals.clear()
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_CANCELED]
    huey.lock_task("held").acquire()
    locked()
    signals.clear()
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_LOCKED]
    times_out()
    signals.clear()
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_TIMEOUT]
    limited()
    limited()
    signals.clear()
    run()
    assert run() == [
        S.SIGNAL_EXECUTING,
        S.SIGNAL_RATE_LIMITED,
        S.SIGNAL_RETRYING,
        S.SIGNAL_SCHEDULED,
    ]
    retried()
    signals.clear()
    assert run() == [S.SIGNAL_EXECUTING, S.SIGNAL_RETRYING, S.SIGNAL_SCHEDULED]

    started, release = threading.Event(), threading.Event()

    @huey.task()
    def long_running() -> None:
        started.set()
        release.wait(5)

    long_running()
    task = huey.dequeue()
    worker = threading.Thread(target=huey.execute, args=(task,))
    worker.start()
    started.wait(5)
    signals.clear()
    huey.notify_interrupted_tasks()
    interrupted = [(s, t) for s, t, _ in signals if s == S.SIGNAL_INTERRUPTED]
    assert interrupted == [(S.SIGNAL_INTERRUPTED, task)]
    seen.add(S.SIGNAL_INTERRUPTED)
    release.set()
    worker.join()
    signals.clear()
    huey.notify_interrupted_tasks()  # Nothing in flight any more.
    assert signals.names() == []
    huey.storage.enqueue(b"garbage")
    with pytest.raises(MessageError):
        huey.dequeue()
    [(name, task, (letter,))] = list(signals)
    assert (name, task, letter.data) == (S.SIGNAL_DEAD_LETTERED, None, b"garbage")
    seen.add(name)
    assert seen == set(S.ALL_SIGNALS)


def test_notify_interrupted_tasks_reports_tasks_killed_mid_run(
    huey: MemoryHuey, signals: Any
) -> None:
    class Shutdown(BaseException):
        pass

    @huey.task()
    def killed() -> None:
        raise Shutdown  # As when a worker is stopped in the middle of a task.

    killed()
    task = huey.dequeue()
    with pytest.raises(Shutdown):
        huey.execute(task)
    signals.clear()
    huey.notify_interrupted_tasks()
    assert [(s, t.id) for s, t, _ in signals] == [(S.SIGNAL_INTERRUPTED, task.id)]
