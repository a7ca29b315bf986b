"""MiniHuey: greenlet tasks in the application's process, scheduled and periodic tasks."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable

import gevent
import pytest

from huey import crontab
from huey.contrib.mini import MiniHuey


def test_tasks_run_in_greenlets_and_results_are_waited_for() -> None:
    mini = MiniHuey()

    @mini.task()
    def slow_double(n: int) -> int:
        gevent.sleep(0.1)
        return n * 2

    results = [slow_double(i) for i in range(20)]
    assert [r.get(timeout=10) for r in results] == [i * 2 for i in range(20)]
    assert slow_double.call_local(4) == 8
    assert slow_double.__name__ == "slow_double"


def test_a_failing_task_raises_from_get() -> None:
    mini = MiniHuey()

    @mini.task()
    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        fail().get(timeout=10)


def test_pool_size_limits_concurrent_tasks() -> None:
    mini = MiniHuey(pool_size=2)
    running, peak = [0], [0]

    @mini.task()
    def work() -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        gevent.sleep(0.05)
        running[0] -= 1

    results = [work() for _ in range(6)]
    for result in results:
        result.get(timeout=10)
    assert peak[0] == 2


def test_scheduled_tasks_run_once_due_with_the_scheduler_started() -> None:
    mini = MiniHuey(interval=0.02)

    @mini.task()
    def stamp(label: str) -> tuple[str, dt.datetime]:
        return label, dt.datetime.now(dt.UTC)

    mini.start()
    try:
        start = dt.datetime.now(dt.UTC)
        by_delay = stamp.schedule(("delay",), delay=0.3)
        # A naive eta is local time; an aware one is converted.
        local_eta = start.astimezone().replace(tzinfo=None) + dt.timedelta(seconds=0.2)
        by_eta = stamp.schedule(args=("eta",), eta=local_eta)
        by_aware = stamp.schedule(args=("aware",), eta=start + dt.timedelta(seconds=0.1))
        label, ran_at = by_delay.get(timeout=10)
        assert label == "delay" and ran_at >= start + dt.timedelta(seconds=0.3)
        label, ran_at = by_eta.get(timeout=10)
        assert label == "eta" and ran_at >= start + dt.timedelta(seconds=0.2)
        label, ran_at = by_aware(timeout=10)
        assert label == "aware" and ran_at >= start + dt.timedelta(seconds=0.1)
    finally:
        mini.stop()


def test_results_are_callable_like_huey_results() -> None:
    mini = MiniHuey()

    @mini.task()
    def add(a: int, b: int) -> int:
        return a + b

    @mini.task()
    def fail() -> None:
        raise KeyError("missing")

    assert add(3, 4)() == 7
    assert add(1, 1)(timeout=10) == 2
    with pytest.raises(KeyError, match="missing"):
        fail()()


@pytest.mark.parametrize(
    "when",
    [
        {},
        {"delay": 1, "eta": dt.datetime(2030, 1, 1)},
        {"delay": dt.timedelta(seconds=1), "eta": dt.datetime(2030, 1, 1)},
        {"eta": "2030-01-01 00:00"},
        {"eta": 1700000000},
    ],
)
def test_schedule_needs_exactly_one_valid_eta_or_delay(when: dict[str, object]) -> None:
    mini = MiniHuey()
    ran: list[int] = []

    @mini.task()
    def work() -> None:
        ran.append(1)

    with pytest.raises(ValueError):
        work.schedule((), **when)  # type: ignore[arg-type]
    # Nothing was queued: a check far in the future starts nothing.
    mini.check(dt.datetime(2100, 1, 1))
    gevent.sleep(0.05)
    assert ran == []


def test_crontabs_and_etas_use_local_time_by_default() -> None:
    # In a zone 12 hours behind UTC, the default clock is the local one (as in huey's MiniHuey).
    code = (
        "import datetime as dt\n"
        "from huey.contrib.mini import MiniHuey\n"
        "local, utc = MiniHuey().clock(), MiniHuey(utc=True).clock()\n"
        "print(round((utc - local).total_seconds() / 3600))\n"
    )
    env = {**os.environ, "TZ": "Etc/GMT+12"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        gevent.sleep(0.01)


def test_periodic_tasks_run_on_matching_minutes() -> None:
    mini = MiniHuey(clock=lambda: dt.datetime(2024, 1, 1, 9, 58))
    runs: list[str] = []

    @mini.periodic_task(crontab(minute="0"))
    def hourly() -> None:
        runs.append("hourly")

    @mini.task(crontab())
    def minutely() -> None:
        runs.append("minutely")

    @mini.task(lambda now: bool(1 / 0))
    def broken() -> None:
        runs.append("broken")

    mini.check(dt.datetime(2024, 1, 1, 9, 58, 30))
    mini.check(dt.datetime(2024, 1, 1, 9, 58, 59))  # The same minute: nothing more.
    mini.check(dt.datetime(2024, 1, 1, 9, 59, 1))
    mini.check(dt.datetime(2024, 1, 1, 10, 0, 1))
    wait_until(lambda: len(runs) >= 4)
    gevent.sleep(0.05)
    # The broken schedule is logged and skipped; the others still run.
    assert sorted(runs) == ["hourly", "minutely", "minutely", "minutely"]
    # A minute before the instance was made (the clock went back) starts nothing again.
    mini.check(dt.datetime(2024, 1, 1, 9, 57, 30))
    gevent.sleep(0.05)
    assert len(runs) == 4


def test_a_broken_schedule_does_not_stop_the_scheduler() -> None:
    now = [dt.datetime(2024, 1, 1, 9, 58, 30)]
    mini = MiniHuey(interval=0.01, clock=lambda: now[0])
    checked: list[dt.datetime] = []

    def broken(minute: dt.datetime) -> bool:
        checked.append(minute)
        raise ZeroDivisionError

    @mini.task(broken)
    def never() -> None:
        pass

    @mini.task()
    def add(a: int, b: int) -> int:
        return a + b

    mini.start()
    try:
        wait_until(lambda: len(checked) == 1)
        assert add.schedule((1, 2), delay=0).get(timeout=10) == 3
        now[0] = dt.datetime(2024, 1, 1, 9, 59, 1)
        wait_until(lambda: len(checked) == 2)
        # Still alive after a second failure: scheduled tasks keep being started.
        assert add.schedule((2, 3), delay=0).get(timeout=10) == 5
    finally:
        mini.stop()


def test_the_started_scheduler_checks_its_clock() -> None:
    now = [dt.datetime(2024, 1, 1, 9, 58, 30)]
    mini = MiniHuey(interval=0.01, clock=lambda: now[0])
    runs: list[dt.datetime] = []

    @mini.task(crontab())
    def minutely() -> None:
        runs.append(now[0])

    mini.start()
    try:
        wait_until(lambda: len(runs) == 1)
        now[0] = dt.datetime(2024, 1, 1, 9, 59, 1)
        wait_until(lambda: len(runs) == 2)
    finally:
        mini.stop()
    assert [r.minute for r in runs] == [58, 59]


def test_without_gevent_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['gevent'] = None\n"
        "from huey.contrib.mini import MiniHuey\n"
        "try:\n    MiniHuey()\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "pip install 'huey-core[gevent]'" in out.stdout
