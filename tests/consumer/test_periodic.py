"""The scheduler's periodic tasks, driven by an injected clock instead of real minutes."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from consumer_support import wait_for

from huey import FileHuey, MemoryHuey, crontab
from huey.api import Huey
from huey.utils import utcnow


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, value: dt.datetime) -> None:
        with self._lock:
            self._now = value


NOON = dt.datetime(2024, 5, 6, 12, 0, 10)


def add_periodic_tasks(huey: Huey, runs: Counter[str], lock: threading.Lock) -> None:
    @huey.periodic_task(crontab())
    def every_minute() -> None:
        with lock:
            runs["every_minute"] += 1

    @huey.periodic_task(crontab(minute="*/5"))
    def every_five() -> None:
        with lock:
            runs["every_five"] += 1

    @huey.task()
    def plain() -> str:
        return "plain"

    huey.plain = plain  # type: ignore[attr-defined]


def periodic_app(name: str = "periodic") -> tuple[Huey, Counter[str]]:
    huey = MemoryHuey(name)
    runs: Counter[str] = Counter()
    add_periodic_tasks(huey, runs, threading.Lock())
    return huey, runs


def at(minute: int, second: int = 0, hour: int = 12) -> dt.datetime:
    return NOON.replace(hour=hour, minute=minute, second=second)


def claim_minutes(huey: Huey) -> set[str]:
    return {key.rsplit(".", 1)[1] for key in huey.storage.result_items() if ".periodic." in key}


def test_periodic_tasks_run_once_per_matching_minute(start_consumer: Any) -> None:
    huey, runs = periodic_app()
    clock = FakeClock(at(3, 10))
    consumer = start_consumer(huey, workers=2, clock=clock, scheduler_interval=0.05)
    wait_for(lambda: runs["every_minute"] == 1, what="the startup minute's run")
    clock.set(at(3, 50))  # Same minute: nothing new.
    clock.set(at(5, 1))  # 12:04 is caught up, 12:05 matches both crontabs.
    wait_for(lambda: runs["every_minute"] == 3 and runs["every_five"] == 1, what="12:04-12:05")
    clock.set(at(6, 30))
    wait_for(lambda: runs["every_minute"] == 4, what="12:06")
    clock.set(at(45))  # A long gap (a suspended machine): only the current minute runs.
    wait_for(lambda: runs["every_minute"] == 5 and runs["every_five"] == 2, what="12:45")
    assert consumer.stop(graceful=True, timeout=15)
    assert runs == Counter(every_minute=5, every_five=2)


def test_consumers_of_one_queue_enqueue_each_periodic_task_once_per_minute(
    tmp_path: Path, start_consumer: Any
) -> None:
    # Two instances on one FileStorage directory, as two consumer hosts of one queue would be.
    runs: Counter[str] = Counter()
    lock = threading.Lock()
    hueys = [FileHuey("shared", path=str(tmp_path / "queue")) for _ in range(2)]
    for huey in hueys:
        add_periodic_tasks(huey, runs, lock)
    clock = FakeClock(at(0, 5))
    consumers = [
        start_consumer(huey, workers=2, clock=clock, scheduler_interval=0.02) for huey in hueys
    ]
    wait_for(lambda: runs["every_minute"] >= 1, what="the first minute")
    for minute in range(1, 11):
        clock.set(at(minute, 2))
        wait_for(lambda m=minute: runs["every_minute"] >= m + 1, what=f"12:{minute:02}")
    for consumer in consumers:
        assert consumer.stop(graceful=True, timeout=15)
    assert runs == Counter(every_minute=11, every_five=3)  # 12:00 ... 12:10


def test_old_claim_keys_are_deleted(start_consumer: Any) -> None:
    huey, runs = periodic_app()
    clock = FakeClock(at(0, 1))
    start_consumer(huey, clock=clock, scheduler_interval=0.02)
    for minute in (4, 8, 12):  # Jumps within the catch-up window: every minute runs.
        clock.set(at(minute, 1))
        wait_for(lambda m=minute: runs["every_minute"] == m + 1, what=f"12:{minute:02}")
    # Claims live ten minutes: 12:00-12:02 are gone, 12:03-12:12 remain.
    wait_for(lambda: len(claim_minutes(huey)) <= 11, what="expiry")
    every_minute_claims = {
        key.rsplit(".", 1)[1]
        for key in huey.storage.result_items()
        if ".periodic." in key and "every_minute" in key
    }
    assert every_minute_claims == {f"2024050612{m:02}" for m in range(3, 13)}


def test_claims_left_by_a_stopped_consumer_are_swept_at_startup(start_consumer: Any) -> None:
    huey, runs = periodic_app()
    task_name = next(
        cls.qualified_name
        for cls in huey._registry.periodic_tasks
        if "every_minute" in cls.qualified_name
    )
    stale = f"{huey.name}.periodic.{task_name}.{at(30, hour=11):%Y%m%d%H%M}"
    recent = f"{huey.name}.periodic.{task_name}.{at(15):%Y%m%d%H%M}"
    for key in (stale, recent):
        huey.storage.put_data(key, b"crashed-consumer")
    start_consumer(huey, clock=FakeClock(at(20, 5)), scheduler_interval=0.02)
    wait_for(lambda: runs["every_minute"] == 1, what="the first tick")
    keys = set(huey.storage.result_items())
    assert stale not in keys  # 50 minutes old: swept.
    assert recent in keys  # Within the retention window: another consumer may still need it.


def test_no_periodic_option_enqueues_none_while_the_schedule_still_runs(
    start_consumer: Any,
) -> None:
    huey, runs = periodic_app()
    clock = FakeClock(at(0, 1))
    start_consumer(huey, clock=clock, periodic=False, scheduler_interval=0.02)
    clock.set(at(5, 1))
    result = huey.plain.schedule(delay=0.3)  # type: ignore[attr-defined]
    assert result.get(blocking=True, timeout=15) == "plain"  # The scheduler did tick.
    assert runs == Counter()
    assert claim_minutes(huey) == set()


def test_crontabs_use_utc_or_local_time() -> None:
    huey, _ = periodic_app()
    utc_clock = huey.create_consumer(utc=True).scheduler.clock
    local_clock = huey.create_consumer(utc=False).scheduler.clock
    assert abs(utc_clock() - utcnow()) < dt.timedelta(seconds=30)
    assert abs(local_clock() - dt.datetime.now()) < dt.timedelta(seconds=30)
    # Unset, the consumer follows the instance's own utc setting.
    assert MemoryHuey("local", utc=False).create_consumer().utc is False
    assert MemoryHuey("utc").create_consumer().utc is True
