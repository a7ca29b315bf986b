"""The key/value store (put/get/delete/put_if_empty) and queue introspection."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pytest

from huey import FileHuey, MemoryHuey
from huey.exceptions import ConfigurationError, SerializationError


def test_put_and_get(huey: MemoryHuey) -> None:
    huey.put("k", {"a": [1, 2]})
    assert huey.get("k", peek=True) == {"a": [1, 2]}
    assert huey.get("k", peek=True) == {"a": [1, 2]}  # peek keeps the value...
    assert huey.get("k") == {"a": [1, 2]}  # ...a plain get removes it.
    assert huey.get("k") is None
    assert huey.get("missing", peek=True) is None


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_bytes_keys_name_the_same_entries_as_text(kind: str, tmp_path: Any) -> None:
    """Storage keys may be bytes (as documented); b"k" and "k" are one key at every level."""
    h = MemoryHuey("kv") if kind == "memory" else FileHuey("kv", path=str(tmp_path))
    h.put(b"k", 1)
    assert h.get("k", peek=True) == 1 and h.get(b"k", peek=True) == 1
    assert h.put_if_empty(b"k", 2) is False and h.put_if_empty("j", 3) is True
    assert h.get(b"j") == 3 and h.get("j") is None
    assert h.delete(b"k") is True and h.delete("k") is False
    h.lock_task("bytes-lock").acquire()
    assert h.storage.has_data_for_key(b"kv.lock.bytes-lock")


def test_put_overwrites_and_stores_none(huey: MemoryHuey) -> None:
    huey.put("k", 1)
    huey.put("k", 2)
    assert huey.get("k", peek=True) == 2
    huey.put("none", None)
    assert huey.result_count() == 2 and huey.get("none") is None


def test_delete(huey: MemoryHuey) -> None:
    huey.put("k", "v")
    assert huey.delete("k") is True
    assert huey.delete("k") is False
    assert huey.get("k") is None


def test_put_if_empty(huey: MemoryHuey) -> None:
    assert huey.put_if_empty("k", "first") is True
    assert huey.put_if_empty("k", "second") is False
    assert huey.get("k") == "first"
    assert huey.put_if_empty("k", "third") is True


def test_values_are_serialized_with_the_huey_serializer(huey: MemoryHuey) -> None:
    huey.put("k", (1, "two"))
    assert pickle.loads(huey.all_results()["k"]) == (1, "two")
    with pytest.raises(SerializationError):
        huey.put("bad", lambda: None)
    assert huey.get("bad") is None


def test_introspection(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    assert (huey.pending_count(), huey.scheduled_count(), huey.result_count(), len(huey)) == (
        0,
        0,
        0,
        0,
    )
    r1, r2 = add(1, 2), add(3, 4)
    add.schedule((5, 6), eta=dt.datetime(2030, 1, 1))
    assert huey.pending_count() == 3 and len(huey) == 3
    assert [t.args for t in huey.pending()] == [(1, 2), (3, 4), (5, 6)]
    assert [t.args for t in huey.pending(limit=2)] == [(1, 2), (3, 4)]
    assert huey.pending_count() == 3  # Reading pending tasks does not dequeue them.
    drain()
    assert huey.scheduled_count() == 1
    assert [(t.args, t.eta) for t in huey.scheduled()] == [((5, 6), dt.datetime(2030, 1, 1))]
    add.schedule((7, 8), eta=dt.datetime(2029, 1, 1))
    drain()
    assert [t.args for t in huey.scheduled()] == [(7, 8), (5, 6)]  # Soonest first.
    assert [t.args for t in huey.scheduled(limit=1)] == [(7, 8)]
    huey.put("extra", 1)
    results = huey.all_results()
    assert set(results) == {r1.id, r2.id, "extra"} and huey.result_count() == 3
    assert pickle.loads(results[r1.id]) == 3  # Serialized values.
    assert r1.get(preserve=True) == 3
    huey.flush()
    assert (huey.pending_count(), huey.scheduled_count(), huey.result_count()) == (0, 0, 0)


def test_flush_clears_counters_and_locks(huey: MemoryHuey) -> None:
    huey.lock_task("l").acquire()
    rl = huey.rate_limit("r", limit=5, per=60)
    rl.acquire()
    huey.flush()
    assert not huey.is_locked("l") and rl.current_usage() == 0
    assert huey.storage.incr("test.rl.r", 0) == 0


def test_priority_orders_the_queue(huey: MemoryHuey, drain: Any) -> None:
    @huey.task(priority=1)
    def job(name: str) -> str:
        return name

    job("default-1")
    job.schedule(("high",), delay=0, priority=10)
    huey.enqueue(job.s("low", priority=0))
    job("default-2")
    assert [t.args[0] for t in huey.pending()] == ["high", "default-1", "default-2", "low"]
    assert drain() == ["high", "default-1", "default-2", "low"]


def test_storage_priority_is_huey_354s_name_for_supports_priority(huey: MemoryHuey) -> None:
    @huey.task()
    def job() -> None:
        pass

    assert huey.storage.priority is True
    huey.storage.priority = False  # What huey 3.5.4 code does to a storage instance.
    assert huey.storage.supports_priority is False
    assert MemoryHuey("other").storage.supports_priority is True  # Only this instance.
    with pytest.raises(ConfigurationError, match="does not support task priorities"):
        job.schedule(delay=0, priority=5)
    job()  # Without a priority, still accepted.
    assert len(huey.pending()) == 1
