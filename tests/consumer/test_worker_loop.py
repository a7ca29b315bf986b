"""The worker loop shared by every worker type: polling backoff, bad messages, storage outages."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import pytest
from consumer_support import wait_for

from huey import Huey, MemoryHuey
from huey._memory_storage import MemoryStorage
from huey._workers import Backoff, Worker, WorkerSettings
from huey.registry import Message


class RecordingStop:
    """A threading.Event that records how long the worker asked to wait each time."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0, 6))
        return self.event.wait(timeout)


def test_backoff_grows_by_its_factor_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.1, 2.0, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


def run_worker(huey: Huey, settings: WorkerSettings) -> tuple[Worker, RecordingStop, Any]:
    stop = RecordingStop()
    worker = Worker(huey, settings, stop, name="test-worker")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, stop, thread


def test_empty_polls_back_off_and_a_task_resets_the_delay() -> None:
    huey = MemoryHuey("polling")
    ran = threading.Event()

    @huey.task()
    def job() -> None:
        ran.set()

    _, stop, thread = run_worker(huey, WorkerSettings(1, 0.02, 3.0, 0.54))
    try:
        wait_for(lambda: len(stop.waits) >= 5, what="five empty polls")
        assert stop.waits[:5] == [0.02, 0.06, 0.18, 0.54, 0.54]
        job()
        wait_for(ran.is_set, what="the task to run")
        wait_for(
            lambda: stop.waits.count(0.02) == 2 and stop.waits[-1] != 0.02,
            what="two polls after the task",
        )
        # Right after the task the delay started over: capped delay, task, initial, x3, ...
        second = stop.waits.index(0.02, 1)
        assert stop.waits[second - 1] == 0.54 and stop.waits[second + 1] == 0.06
    finally:
        stop.event.set()
        thread.join(5)


class BlockingMemoryStorage(MemoryStorage):
    """A memory storage whose dequeue waits (up to 50ms) for a message, like a blocking pop."""

    supports_blocking_dequeue = True

    def __init__(self, name: str = "huey", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.calls = 0
        self.arrived = threading.Condition()

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        super().enqueue(data, priority)
        with self.arrived:
            self.arrived.notify_all()

    def dequeue(self) -> bytes | None:
        self.calls += 1
        data = super().dequeue()
        if data is None:
            with self.arrived:
                self.arrived.wait(0.05)
            data = super().dequeue()
        return data


def test_a_blocking_storage_is_not_polled_with_delays() -> None:
    huey = Huey("blocking", storage_class=BlockingMemoryStorage)
    done = threading.Event()

    @huey.task()
    def job() -> None:
        done.set()

    _, stop, thread = run_worker(huey, WorkerSettings(1, 5.0, 2.0, 10.0))
    try:
        storage = huey.storage
        assert isinstance(storage, BlockingMemoryStorage)
        wait_for(lambda: storage.calls >= 5, what="repeated blocking dequeues")
        job()
        wait_for(done.is_set, what="the task")
        assert stop.waits == []  # Never slept the 5s polling delay.
    finally:
        stop.event.set()
        thread.join(5)


def test_unusable_messages_are_dead_lettered_with_their_reason(
    caplog: pytest.LogCaptureFixture, start_consumer: Any
) -> None:
    huey = MemoryHuey("bad-messages")

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    huey.storage.enqueue(b"\x00 not a pickle")
    huey.storage.enqueue(huey.serializer.serialize(Message("id-1", "nowhere.unknown_task")))
    caplog.set_level(logging.ERROR, logger="huey")
    consumer = start_consumer(huey, workers=1)
    assert add(1, 2).get(blocking=True, timeout=15) == 3
    logged = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    letters = huey.dead_letters()
    assert len(logged) == len(letters) == 2
    reasons = sorted(letter.reason for letter in letters)
    assert reasons[0].startswith("cannot deserialize")
    assert "'nowhere.unknown_task' is not registered" in reasons[1]
    assert huey.pending_count() == 0 and consumer.pool.alive() == 1


class FlakyStorage(MemoryStorage):
    """A memory storage that can be switched off: every call then raises ConnectionError."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("storage is down")

    def dequeue(self) -> bytes | None:
        self._check()
        return super().dequeue()

    def read_schedule(self, ts: Any) -> list[bytes]:
        self._check()
        return super().read_schedule(ts)

    def put_if_empty(self, key: str, value: bytes) -> bool:
        self._check()
        return super().put_if_empty(key, value)


def test_a_storage_outage_is_retried_and_the_consumer_resumes_by_itself(
    caplog: pytest.LogCaptureFixture, start_consumer: Any
) -> None:
    huey = Huey("outage", storage_class=FlakyStorage)

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    caplog.set_level(logging.WARNING, logger="huey")
    consumer = start_consumer(huey, workers=2)
    storage = huey.storage
    assert isinstance(storage, FlakyStorage)
    storage.down = True

    def failures(logger: str) -> int:
        return sum(
            "storage" in r.getMessage() or "queue" in r.getMessage()
            for r in caplog.records
            if r.name == logger and r.levelno >= logging.WARNING
        )

    wait_for(lambda: failures("huey.consumer.worker") >= 4, what="worker retries")
    wait_for(lambda: failures("huey.consumer.scheduler") >= 2, what="scheduler retries")
    storage.down = False
    assert add(20, 22).get(blocking=True, timeout=30) == 42
    assert consumer.pool.alive() == 2 and consumer.is_running
    assert any("available again" in r.getMessage() for r in caplog.records)


def test_an_unusable_scheduled_message_is_dead_lettered_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture, start_consumer: Any
) -> None:
    import datetime as dt

    huey = MemoryHuey("bad-schedule")

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    past = dt.datetime(2020, 1, 1)
    task = add.s(1, 1)
    huey.storage.add_to_schedule(b"\x00 garbage", past)  # Read first: same time, added first.
    huey.storage.add_to_schedule(huey.serialize_task(task), past)
    caplog.set_level(logging.ERROR, logger="huey")
    start_consumer(huey)
    assert huey.result(task.id, blocking=True, timeout=15) == 2
    assert any("dead-lettered" in r.getMessage() for r in caplog.records)
    assert [letter.data for letter in huey.dead_letters()] == [b"\x00 garbage"]
    assert huey.scheduled_count() == 0


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_a_storage_outage_is_one_line_per_failure_with_the_traceback_at_debug(
    caplog: pytest.LogCaptureFixture, start_consumer: Any, level: int
) -> None:
    huey = Huey("outage-lines", storage_class=FlakyStorage)
    storage = huey.storage
    assert isinstance(storage, FlakyStorage)
    storage.down = True
    caplog.set_level(level, logger="huey")
    start_consumer(huey, workers=2)

    def failures() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name in ("huey.consumer.worker", "huey.consumer.scheduler")
            and r.levelno >= logging.WARNING
        ]

    wait_for(lambda: len(failures()) >= 8, what="failed retries of the workers and scheduler")
    storage.down = False
    records = failures()
    # Each failure is one line naming the error and (the first of each) the wait before the next.
    for record in records:
        assert "\n" not in record.getMessage()
        assert "ConnectionError: storage is down" in record.getMessage()
    first = [r for r in records if r.levelno == logging.ERROR]
    assert {r.threadName for r in first} == {"Worker-1", "Worker-2", "Scheduler"}
    assert all(re.search(r"retrying in [\d.]+s:", r.getMessage()) for r in first)
    # The client's traceback only when DEBUG lines are shown (huey_consumer -v).
    assert all((r.exc_info is not None) == (level == logging.DEBUG) for r in first)
    assert all(r.exc_info is None for r in records if r.levelno == logging.WARNING)
