"""BlackHoleStorage: discards every write and always reads empty (why it is kept out of the
storage conformance suite), and BlackHoleHuey accepts tasks without running or storing them."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from huey import BlackHoleHuey, list_backends
from huey.constants import EmptyData
from huey.storage import BlackHoleStorage

LATER = dt.datetime(2099, 1, 1)


@pytest.fixture
def storage() -> BlackHoleStorage:
    return BlackHoleStorage("blackhole-test")


def test_registered_as_blackhole_backend() -> None:
    backends = {backend.name: backend for backend in list_backends()}
    assert backends["blackhole"].storage_class is BlackHoleStorage
    assert backends["blackhole"].distribution == "huey-core"


def test_queue_discards_messages(storage: BlackHoleStorage) -> None:
    storage.enqueue(b"one")
    storage.enqueue(b"two", priority=5)
    assert storage.queue_size() == 0
    assert storage.enqueued_items() == []
    assert storage.enqueued_items(limit=1) == []
    start = time.monotonic()
    assert storage.dequeue() is None
    assert time.monotonic() - start < 1.0, "an empty black hole must not wait"


def test_schedule_discards_messages(storage: BlackHoleStorage) -> None:
    storage.add_to_schedule(b"due", dt.datetime(2000, 1, 1))
    assert storage.schedule_size() == 0
    assert storage.scheduled_items() == []
    assert storage.read_schedule(LATER) == []


def test_key_value_store_discards_and_reads_empty(storage: BlackHoleStorage) -> None:
    storage.put_data("k", b"v")
    storage.put_data("r", b"v", is_result=True)
    assert storage.has_data_for_key("k") is False
    assert storage.peek_data("k") is EmptyData
    assert storage.pop_data("r") is EmptyData
    assert storage.delete_data("k") is False
    assert storage.result_store_size() == 0
    assert storage.result_items() == {}
    # Always empty, so every put_if_empty "succeeds" and still stores nothing.
    assert storage.put_if_empty("lock", b"a") is True
    assert storage.put_if_empty("lock", b"b") is True
    assert storage.peek_data("lock") is EmptyData


def test_counters_never_accumulate(storage: BlackHoleStorage) -> None:
    assert storage.incr("c") == 1
    assert storage.incr("c") == 1
    assert storage.incr("c", 5) == 5
    assert storage.incr("c", -2) == -2


def test_wait_result_times_out(storage: BlackHoleStorage) -> None:
    storage.put_data("awaited", b"v", is_result=True)
    start = time.monotonic()
    assert storage.wait_result("awaited", timeout=0.2) is False
    assert time.monotonic() - start >= 0.15


def test_flushes_and_close_are_harmless(storage: BlackHoleStorage) -> None:
    storage.flush_queue()
    storage.flush_schedule()
    storage.flush_results()
    storage.flush_counters()
    storage.flush_all()
    storage.delete_counter("c")
    assert storage.close() is None


def test_blackhole_huey_accepts_tasks_and_runs_nothing() -> None:
    huey = BlackHoleHuey("blackhole-app")
    assert isinstance(huey.storage, BlackHoleStorage)
    calls = []

    @huey.task()
    def record(value: int) -> int:
        calls.append(value)
        return value

    result = record(1)
    record.schedule((2,), delay=60)
    record(3, priority=10)  # supports_priority: accepted, then discarded.
    assert result is not None
    assert huey.pending_count() == 0
    assert huey.pending() == []
    assert huey.scheduled() == []
    assert huey.dequeue() is None
    assert result.get() is None
    assert calls == []
    huey.put("key", {"any": "value"})
    assert huey.get("key") is None
