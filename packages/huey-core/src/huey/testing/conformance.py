"""The storage conformance suite: every test a ``BaseStorage`` implementation must pass.

The suite is a pytest base class. A backend author subclasses it in a test module, tells it how
to build a storage, and pytest collects every test of the suite for that backend::

    # test_my_storage.py
    import pytest

    from huey.testing.conformance import StorageConformance
    from my_package import MyStorage


    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def storage_factory(self, tmp_path):
            def make(name):
                return MyStorage(name, path=str(tmp_path / "data"))

            return make

The factory takes a queue name and returns a new storage instance. Within one test, every
instance it returns must use the same backend location (the same directory, database file or
server database), and that location must be empty when the test starts: the suite builds two
storages with different names on it to check that queues with different names do not see
each other's data. Any pytest fixture may be requested by ``storage_factory`` (``tmp_path``, a
session-scoped server, ``request`` for parametrization). A backend that needs no fixture may
instead override the method ``make_storage(self, name)``.

Every storage the suite builds is closed when its test ends. To see assertion details from
pytest inside the suite, register it for assertion rewriting before importing it, in a
``conftest.py``::

    pytest.register_assert_rewrite("huey.testing.conformance")

Capabilities come from the storage class flags (``supports_priority``,
``supports_blocking_dequeue``, ``supports_leases``, ``destructive_reads``). A test that needs a
capability the storage lacks is skipped with a reason naming the flag; a companion test checks
the documented behaviour without it (a prioritized task is refused with ``ConfigurationError``;
``dequeue()`` on an empty queue returns None promptly; the lease methods raise
``NotImplementedError``; without ``destructive_reads``, ``pop_data`` leaves the value). Every
storage must honour ``put_if_empty(..., ttl=...)``: the ttl tests wait for an entry of a
fraction of a second to expire (up to ``expiry_wait`` seconds, a class attribute). The lease
tests also let leases lapse: ``short_visibility`` is their visibility timeout, in seconds, and
a subclass may raise it. Timing tolerances are class attributes a subclass may adjust
(``blocking_dequeue_min_wait``, ``blocking_dequeue_max_wait``, ``prompt_return``). To leave out
one test, override it in the subclass and call ``pytest.skip`` with the reason (for example, a
backend whose location rather than its queue name identifies a queue, as huey's ``FileStorage``
documents, cannot pass ``test_different_names_are_isolated``).

The ``test_huey_*`` tests run the ``Huey`` API (enqueue, dequeue, execute, results, schedule,
pipelines, priorities, locks, revocation) on storages from the same factory; override
``make_huey(storage_factory, **options)`` to use another ``Huey`` subclass.

The tests use only the public storage API and real threads; messages within a test are all
distinct, as task messages are (each carries a task id).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from huey.api import Huey
from huey.constants import EmptyData
from huey.exceptions import ConfigurationError, TaskException, TaskLockedException
from huey.storage import BaseStorage
from huey.testing._lease_conformance import LeaseConformance
from huey.utils import utcnow

__all__ = ["StorageConformance", "StorageFactory"]

StorageFactory = Callable[[str], BaseStorage]
"""Builds a storage for a queue name on the backend location of the current test."""

# A fixed, naive (UTC) reference time for schedule tests.
BASE_TIME = dt.datetime(2024, 1, 1, 12, 0, 0)

# Keys that trip up naive implementations: path separators and traversal, shell and glob
# characters, whitespace, non-ASCII, case-only differences, a key that is a prefix "directory"
# of another, and a long key.
AWKWARD_KEYS = [
    "a",
    "a/b",
    "a/b/c",
    "../escape",
    "/absolute",
    ".",
    "..",
    "with space",
    "tab\tand\nnewline",
    "unicode-\u00fcn\u00efc\u00f6d\u00e9-\u2713-\u952e",
    "colon:key",
    "glob*?[x]",
    "percent%s%d",
    "back\\slash",
    "quotes'\"`",
    "Key",
    "key",
    "k" * 300,
]


def _messages(count: int, tag: str = "msg") -> list[bytes]:
    return [f"{tag}-{index:04d}".encode() for index in range(count)]


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def _run_threads(count: int, target: Callable[[int], None], timeout: float = 60.0) -> None:
    """Run ``target(index)`` in ``count`` threads; re-raise the first error any of them hit."""
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {count} threads still running after {timeout}s"
    if errors:
        raise errors[0]


def _drain(storage: BaseStorage) -> list[bytes]:
    """Dequeue while the queue reports messages (never waits on an empty blocking queue)."""
    out = []
    while storage.queue_size():
        data = storage.dequeue()
        assert data is not None, "dequeue() returned None while queue_size() was not 0"
        out.append(data)
    return out


class _SuiteHuey(Huey):
    """A ``Huey`` whose storage comes from the suite's factory instead of a class and kwargs."""

    def __init__(self, name: str, storage_factory: StorageFactory, **options: Any) -> None:
        self._storage_factory = storage_factory
        super().__init__(name, storage_class=BaseStorage, **options)

    def create_storage(self) -> BaseStorage:
        return self._storage_factory(self.name)


class StorageConformance(LeaseConformance):
    """Base class of the storage conformance suite; see the module docstring for usage."""

    #: Queue name of the ``storage`` and ``huey`` fixtures.
    queue_name: ClassVar[str] = "conformance"
    #: With ``supports_blocking_dequeue``: ``dequeue()`` on an empty queue waits at least this
    #: long (seconds) before returning None...
    blocking_dequeue_min_wait: ClassVar[float] = 0.05
    #: ...and at most this long.
    blocking_dequeue_max_wait: ClassVar[float] = 30.0
    #: Calls documented not to wait (a non-blocking dequeue, ``wait_result`` on a key that has
    #: data) return within this many seconds.
    prompt_return: ClassVar[float] = 1.0
    #: The longest the ttl tests wait for an entry stored with a short ttl to expire.
    expiry_wait: ClassVar[float] = 30.0
    #: The ttl (seconds) of the entries the ttl tests let expire.
    short_ttl: ClassVar[float] = 0.2

    # -- what a subclass provides --------------------------------------------------------------
    def make_storage(self, name: str) -> BaseStorage:
        """Build a storage for ``name``; override this or the ``storage_factory`` fixture."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the storage_factory fixture or the "
            "make_storage(name) method (see huey.testing.conformance)"
        )

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        """Override with a fixture returning ``factory(name) -> storage``."""
        return self.make_storage

    # -- fixtures the tests use ----------------------------------------------------------------
    @pytest.fixture
    def new_storage(self, storage_factory: StorageFactory) -> Iterator[StorageFactory]:
        """The subclass's factory; every storage it builds is closed when the test ends."""
        created: list[BaseStorage] = []

        def make(name: str) -> BaseStorage:
            storage = storage_factory(name)
            assert isinstance(storage, BaseStorage), (
                f"the storage factory returned {storage!r}, not a BaseStorage"
            )
            created.append(storage)
            return storage

        yield make
        for storage in reversed(created):
            storage.close()

    @pytest.fixture
    def storage(self, new_storage: StorageFactory) -> BaseStorage:
        return new_storage(self.queue_name)

    def make_huey(self, storage_factory: StorageFactory, **options: Any) -> Huey:
        """A ``Huey`` on a storage from ``storage_factory``; override for another Huey class."""
        return _SuiteHuey(self.queue_name, storage_factory, **options)

    @pytest.fixture
    def huey(self, new_storage: StorageFactory) -> Huey:
        return self.make_huey(new_storage)

    # -- a new storage -------------------------------------------------------------------------
    def test_new_storage_is_empty(self, storage: BaseStorage) -> None:
        assert storage.name == self.queue_name
        assert storage.queue_size() == 0
        assert storage.enqueued_items() == []
        assert storage.schedule_size() == 0
        assert storage.scheduled_items() == []
        assert storage.read_schedule(BASE_TIME + _seconds(10**9)) == []
        assert storage.result_store_size() == 0
        assert storage.result_items() == {}
        assert storage.has_data_for_key("k") is False
        assert storage.peek_data("k") is EmptyData
        assert storage.incr("counter") == 1

    # -- queue ---------------------------------------------------------------------------------
    def test_dequeue_is_fifo(self, storage: BaseStorage) -> None:
        messages = _messages(25)
        for message in messages:
            storage.enqueue(message)
        assert _drain(storage) == messages

    def test_dequeue_interleaved_with_enqueue_stays_fifo(self, storage: BaseStorage) -> None:
        storage.enqueue(b"first")
        storage.enqueue(b"second")
        assert storage.dequeue() == b"first"
        storage.enqueue(b"third")
        assert _drain(storage) == [b"second", b"third"]

    def test_enqueue_many_keeps_order_across_batches(self, storage: BaseStorage) -> None:
        messages = _messages(1234, "many")  # Larger than any storage's chunk, presumably.
        storage.enqueue(b"before")
        storage.enqueue_many([(message, None) for message in messages])
        storage.enqueue_many([])
        storage.enqueue(b"after")
        assert storage.queue_size() == len(messages) + 2
        assert _drain(storage) == [b"before", *messages, b"after"]

    def test_enqueue_many_honours_priority(self, storage: BaseStorage) -> None:
        if not storage.supports_priority:
            pytest.skip("needs supports_priority")
        storage.enqueue_many([(b"low", 1), (b"none", None), (b"high", 5), (b"low2", 1)])
        assert _drain(storage) == [b"high", b"low", b"low2", b"none"]

    def test_queue_size_counts_messages(self, storage: BaseStorage) -> None:
        for count, message in enumerate(_messages(5), start=1):
            storage.enqueue(message)
            assert storage.queue_size() == count
        storage.dequeue()
        storage.dequeue()
        assert storage.queue_size() == 3

    def test_enqueued_items_reads_in_dequeue_order_without_removing(
        self, storage: BaseStorage
    ) -> None:
        messages = _messages(10)
        for message in messages:
            storage.enqueue(message)
        assert storage.enqueued_items() == messages
        assert storage.enqueued_items(limit=3) == messages[:3]
        assert storage.enqueued_items(limit=1) == messages[:1]
        assert storage.enqueued_items(limit=100) == messages
        assert storage.queue_size() == len(messages)
        assert _drain(storage) == messages

    def test_flush_queue(self, storage: BaseStorage) -> None:
        for message in _messages(5):
            storage.enqueue(message)
        storage.add_to_schedule(b"scheduled", BASE_TIME)
        storage.put_data("k", b"v")
        storage.flush_queue()
        assert storage.queue_size() == 0
        assert storage.enqueued_items() == []
        assert storage.schedule_size() == 1, "flush_queue() must not touch the schedule"
        assert storage.peek_data("k") == b"v", "flush_queue() must not touch the result store"
        storage.enqueue(b"after flush")
        assert _drain(storage) == [b"after flush"]

    def test_dequeue_is_atomic_across_threads(self, storage: BaseStorage) -> None:
        messages = _messages(200)
        for message in messages:
            storage.enqueue(message)
        taken: list[list[bytes]] = [[] for _ in range(8)]
        barrier = threading.Barrier(8)

        def worker(index: int) -> None:
            barrier.wait()
            while storage.queue_size():
                data = storage.dequeue()
                if data is not None:
                    taken[index].append(data)

        _run_threads(8, worker)
        every = [data for chunk in taken for data in chunk]
        assert len(every) == len(messages), "a message was delivered twice or lost"
        assert set(every) == set(messages)
        assert storage.queue_size() == 0

    def test_priority_order(self, storage: BaseStorage) -> None:
        if not storage.supports_priority:
            pytest.skip("needs supports_priority")
        storage.enqueue(b"p0-a")  # No priority counts as 0.
        storage.enqueue(b"p10-a", priority=10)
        storage.enqueue(b"p-5", priority=-5)
        storage.enqueue(b"p0-b", priority=0)
        storage.enqueue(b"p5", priority=5)
        storage.enqueue(b"p10-b", priority=10)
        storage.enqueue(b"p0-c", priority=None)
        expected = [b"p10-a", b"p10-b", b"p5", b"p0-a", b"p0-b", b"p0-c", b"p-5"]
        assert storage.enqueued_items() == expected
        assert storage.enqueued_items(limit=2) == expected[:2]
        assert _drain(storage) == expected

    def test_priority_refused_without_supports_priority(self, huey: Huey) -> None:
        if huey.storage.supports_priority:
            pytest.skip("the refusal applies only when supports_priority is False")

        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        @huey.task(priority=3)
        def prioritized() -> None:
            pass

        with pytest.raises(ConfigurationError):
            add(1, 2, priority=5)
        with pytest.raises(ConfigurationError):
            add.schedule((1, 2), delay=60, priority=5)
        with pytest.raises(ConfigurationError):
            prioritized()
        with pytest.raises(ConfigurationError):
            huey.storage.check_priority(1)
        assert huey.storage.queue_size() == 0, "a refused task was written to the queue"
        assert huey.storage.enqueued_items() == []
        assert huey.storage.schedule_size() == 0
        huey.storage.check_priority(None)
        add(1, 2)  # Without a priority the same task is accepted.
        assert huey.storage.queue_size() == 1

    # -- blocking dequeue ----------------------------------------------------------------------
    def test_blocking_dequeue_waits_on_empty_queue(self, storage: BaseStorage) -> None:
        if not storage.supports_blocking_dequeue:
            pytest.skip("needs supports_blocking_dequeue")
        start = time.monotonic()
        assert storage.dequeue() is None
        elapsed = time.monotonic() - start
        assert elapsed >= self.blocking_dequeue_min_wait, (
            f"dequeue() on an empty queue returned after {elapsed:.3f}s: "
            "supports_blocking_dequeue promises it waits for a message"
        )
        assert elapsed <= self.blocking_dequeue_max_wait
        storage.enqueue(b"ready")
        start = time.monotonic()
        assert storage.dequeue() == b"ready"
        assert time.monotonic() - start < self.prompt_return

    def test_dequeue_returns_promptly_without_blocking_dequeue(self, storage: BaseStorage) -> None:
        if storage.supports_blocking_dequeue:
            pytest.skip("applies only when supports_blocking_dequeue is False")
        start = time.monotonic()
        for _ in range(3):
            assert storage.dequeue() is None
        elapsed = time.monotonic() - start
        assert elapsed < self.prompt_return, f"three empty dequeues took {elapsed:.3f}s"

    # -- schedule ------------------------------------------------------------------------------
    def test_read_schedule_returns_due_items_in_time_order_and_removes_them(
        self, storage: BaseStorage
    ) -> None:
        storage.add_to_schedule(b"at+3", BASE_TIME + _seconds(3))
        storage.add_to_schedule(b"at+1", BASE_TIME + _seconds(1))
        storage.add_to_schedule(b"at+4", BASE_TIME + _seconds(4))
        storage.add_to_schedule(b"at+2", BASE_TIME + _seconds(2))
        assert storage.schedule_size() == 4
        assert storage.read_schedule(BASE_TIME) == []
        assert storage.read_schedule(BASE_TIME + _seconds(2.5)) == [b"at+1", b"at+2"]
        assert storage.schedule_size() == 2
        assert storage.read_schedule(BASE_TIME + _seconds(2.5)) == [], "read twice"
        assert storage.read_schedule(BASE_TIME + _seconds(100)) == [b"at+3", b"at+4"]
        assert storage.schedule_size() == 0
        assert storage.queue_size() == 0, "read_schedule() must not enqueue anything"

    def test_read_schedule_cutoff_is_inclusive(self, storage: BaseStorage) -> None:
        storage.add_to_schedule(b"whole", BASE_TIME)
        exact = BASE_TIME + dt.timedelta(milliseconds=250)
        storage.add_to_schedule(b"fraction", exact)
        assert storage.read_schedule(BASE_TIME - dt.timedelta(milliseconds=1)) == []
        assert storage.read_schedule(BASE_TIME) == [b"whole"]
        assert storage.read_schedule(exact - dt.timedelta(milliseconds=1)) == []
        assert storage.read_schedule(exact) == [b"fraction"]
        assert storage.schedule_size() == 0

    def test_schedule_keeps_items_with_the_same_time(self, storage: BaseStorage) -> None:
        messages = _messages(5, "same-time")
        for message in messages:
            storage.add_to_schedule(message, BASE_TIME)
        assert storage.schedule_size() == 5
        assert sorted(storage.read_schedule(BASE_TIME)) == messages

    def test_scheduled_items_soonest_first_with_limit(self, storage: BaseStorage) -> None:
        offsets = [50, 10, 40, 20, 30]
        for offset in offsets:
            storage.add_to_schedule(f"at+{offset}".encode(), BASE_TIME + _seconds(offset))
        expected = [f"at+{offset}".encode() for offset in sorted(offsets)]
        assert storage.scheduled_items() == expected
        assert storage.scheduled_items(limit=2) == expected[:2]
        assert storage.scheduled_items(limit=100) == expected
        assert storage.schedule_size() == len(offsets), "scheduled_items() removed items"
        assert storage.read_schedule(BASE_TIME + _seconds(60)) == expected

    def test_schedule_spans_distant_times(self, storage: BaseStorage) -> None:
        past, future = dt.datetime(2001, 2, 3, 4, 5, 6), dt.datetime(2099, 12, 31, 23, 59, 59)
        storage.add_to_schedule(b"future", future)
        storage.add_to_schedule(b"past", past)
        assert storage.scheduled_items() == [b"past", b"future"]
        assert storage.read_schedule(utcnow()) == [b"past"]
        assert storage.read_schedule(future) == [b"future"]

    def test_flush_schedule(self, storage: BaseStorage) -> None:
        for offset in range(3):
            storage.add_to_schedule(f"s{offset}".encode(), BASE_TIME + _seconds(offset))
        storage.enqueue(b"queued")
        storage.flush_schedule()
        assert storage.schedule_size() == 0
        assert storage.scheduled_items() == []
        assert storage.read_schedule(BASE_TIME + _seconds(10)) == []
        assert storage.queue_size() == 1, "flush_schedule() must not touch the queue"

    # -- key/value store -----------------------------------------------------------------------
    def test_put_peek_pop(self, storage: BaseStorage) -> None:
        assert storage.peek_data("k") is EmptyData
        assert storage.pop_data("k") is EmptyData
        storage.put_data("k", b"value")
        assert storage.has_data_for_key("k") is True
        assert storage.peek_data("k") == b"value"
        assert storage.peek_data("k") == b"value", "peek_data() must not remove the value"
        assert storage.pop_data("k") == b"value"
        if not storage.destructive_reads:
            pytest.skip("pop_data() leaves the value without destructive_reads (tested apart)")
        assert storage.has_data_for_key("k") is False
        assert storage.pop_data("k") is EmptyData
        assert storage.peek_data("k") is EmptyData

    def test_pop_data_leaves_the_value_without_destructive_reads(
        self, storage: BaseStorage
    ) -> None:
        if storage.destructive_reads:
            pytest.skip("applies only when destructive_reads is False")
        storage.put_data("k", b"value", is_result=True)
        assert storage.pop_data("k") == b"value"
        assert storage.pop_data("k") == b"value", "read again until it expires"
        assert storage.has_data_for_key("k") is True
        assert storage.delete_data("k") is True
        assert storage.pop_data("k") is EmptyData

    def test_put_data_overwrites(self, storage: BaseStorage) -> None:
        storage.put_data("k", b"one")
        storage.put_data("k", b"two")
        assert storage.peek_data("k") == b"two"
        assert storage.result_store_size() == 1

    def test_results_and_other_data_share_the_store(self, storage: BaseStorage) -> None:
        storage.put_data("result", b"r", is_result=True)
        storage.put_data("meta", b"m")
        assert storage.has_data_for_key("result")
        assert storage.peek_data("result") == b"r"
        assert storage.result_items() == {"result": b"r", "meta": b"m"}
        assert storage.pop_data("result") == b"r"
        assert storage.has_data_for_key("result") is not storage.destructive_reads

    def test_delete_data_reports_whether_it_deleted(self, storage: BaseStorage) -> None:
        assert storage.delete_data("k") is False
        storage.put_data("k", b"v")
        storage.put_data("other", b"o")
        assert storage.delete_data("k") is True
        assert storage.peek_data("k") is EmptyData
        assert storage.delete_data("k") is False
        assert storage.peek_data("other") == b"o"

    def test_has_data_for_key(self, storage: BaseStorage) -> None:
        assert storage.has_data_for_key("k") is False
        storage.put_data("k", b"v")
        assert storage.has_data_for_key("k") is True
        assert storage.has_data_for_key("k2") is False
        storage.delete_data("k")
        assert storage.has_data_for_key("k") is False

    def test_peek_data_many_reads_in_order_without_removing(self, storage: BaseStorage) -> None:
        storage.put_data("a", b"1")
        storage.put_data("c", b"3")
        assert storage.peek_data_many(["c", "missing", "a"]) == [b"3", EmptyData, b"1"]
        assert storage.peek_data_many([]) == []
        assert storage.peek_data("a") == b"1"

    def test_put_if_empty(self, storage: BaseStorage) -> None:
        assert storage.put_if_empty("k", b"first") is True
        assert storage.put_if_empty("k", b"second") is False
        assert storage.peek_data("k") == b"first"
        storage.put_data("set", b"x")
        assert storage.put_if_empty("set", b"y") is False
        assert storage.peek_data("set") == b"x"
        assert storage.delete_data("k") is True
        assert storage.put_if_empty("k", b"third") is True
        assert storage.peek_data("k") == b"third"

    def test_peek_many(self, storage: BaseStorage) -> None:
        storage.put_data("k1", b"v1")
        storage.put_data("k2", b"v2")
        assert storage.peek_many(["k1", "kx", "k2"]) == {"k1": b"v1", "k2": b"v2"}
        assert storage.peek_many(["kx"]) == {}

    # -- put_if_empty with a ttl ---------------------------------------------------------------
    def _wait_until_expired(self, storage: BaseStorage, key: str | bytes) -> None:
        deadline = time.monotonic() + self.expiry_wait
        while storage.has_data_for_key(key):
            assert time.monotonic() < deadline, f"{key!r} did not expire in {self.expiry_wait}s"
            time.sleep(0.02)

    def test_put_if_empty_with_ttl_holds_the_key(self, storage: BaseStorage) -> None:
        assert storage.put_if_empty("lock", b"held", ttl=600) is True
        assert storage.put_if_empty("lock", b"other", ttl=600) is False
        assert storage.put_if_empty("lock", b"other") is False
        assert storage.peek_data("lock") == b"held"
        assert storage.has_data_for_key("lock") is True
        assert storage.result_items() == {"lock": b"held"}
        assert storage.result_store_size() == 1
        storage.put_data("set", b"x")
        assert storage.put_if_empty("set", b"y", ttl=600) is False
        assert storage.peek_data("set") == b"x"

    def test_put_if_empty_entry_expires(self, storage: BaseStorage) -> None:
        storage.put_data("kept", b"k")
        assert storage.put_if_empty("lock", b"held", ttl=self.short_ttl) is True
        self._wait_until_expired(storage, "lock")
        assert storage.peek_data("lock") is EmptyData
        assert storage.peek_data_many(["lock", "kept"]) == [EmptyData, b"k"]
        assert storage.pop_data("lock") is EmptyData
        assert storage.delete_data("lock") is False
        assert storage.result_items() == {"kept": b"k"}
        assert storage.result_store_size() == 1
        assert storage.put_if_empty("lock", b"again") is True
        assert storage.peek_data("lock") == b"again"

    def test_put_data_replaces_an_expiring_entry_for_good(self, storage: BaseStorage) -> None:
        assert storage.put_if_empty("k", b"expiring", ttl=self.short_ttl) is True
        storage.put_data("k", b"kept")
        assert storage.put_if_empty("gone", b"g", ttl=self.short_ttl) is True
        self._wait_until_expired(storage, "gone")
        time.sleep(self.short_ttl)  # Past k's old expiry too, whatever the clock's resolution.
        assert storage.peek_data("k") == b"kept", "put_data() must drop the old expiry"

    def test_delete_data_takes_the_expiry_along(self, storage: BaseStorage) -> None:
        assert storage.put_if_empty("k", b"expiring", ttl=self.short_ttl) is True
        assert storage.delete_data("k") is True
        assert storage.put_if_empty("k", b"lasting") is True
        assert storage.put_if_empty("gone", b"g", ttl=self.short_ttl) is True
        self._wait_until_expired(storage, "gone")
        time.sleep(self.short_ttl)
        assert storage.peek_data("k") == b"lasting", "a deleted entry's expiry must go with it"

    def test_put_if_empty_refuses_a_bad_ttl(self, storage: BaseStorage) -> None:
        for ttl in (0, -1, float("nan")):
            with pytest.raises(ValueError):
                storage.put_if_empty("k", b"v", ttl=ttl)
        with pytest.raises(TypeError):
            storage.put_if_empty("k", b"v", ttl="10")  # type: ignore[arg-type]
        assert storage.has_data_for_key("k") is False

    def test_put_if_empty_with_ttl_is_atomic_across_threads(self, storage: BaseStorage) -> None:
        threads = 16
        barrier = threading.Barrier(threads)
        outcomes: list[bool | None] = [None] * threads

        def racer(index: int) -> None:
            barrier.wait()
            outcomes[index] = storage.put_if_empty("race", f"t{index}".encode(), ttl=600)

        _run_threads(threads, racer)
        assert outcomes.count(True) == 1, f"put_if_empty() returned True {outcomes.count(True)}x"

    # -- bytes keys ----------------------------------------------------------------------------
    def test_bytes_keys_name_the_same_entries_as_text(self, storage: BaseStorage) -> None:
        text = "k\u00fc"
        raw = text.encode("utf-8")
        storage.put_data(raw, b"v")
        assert storage.peek_data(text) == b"v"
        assert storage.peek_data(raw) == b"v"
        assert storage.has_data_for_key(raw) is True
        assert storage.peek_data_many([raw, b"missing"]) == [b"v", EmptyData]
        assert storage.result_items() == {text: b"v"}
        assert storage.put_if_empty(raw, b"w") is False
        assert storage.put_if_empty(text, b"w") is False
        assert storage.pop_data(raw) == b"v"
        storage.put_data(text, b"v2")
        assert storage.peek_data(raw) == b"v2"
        assert storage.delete_data(raw) is True
        assert storage.has_data_for_key(text) is False
        assert storage.put_if_empty(b"lock", b"l", ttl=600) is True
        assert storage.has_data_for_key("lock") is True
        assert storage.incr(raw, 2) == 2
        assert storage.incr(text) == 3
        storage.delete_counter(raw)
        assert storage.incr(text) == 1

    def test_put_if_empty_is_atomic_across_threads(self, storage: BaseStorage) -> None:
        threads, rounds = 16, 5
        for round_ in range(rounds):
            key = f"race-{round_}"
            barrier = threading.Barrier(threads)
            outcomes: list[bool | None] = [None] * threads

            def racer(
                index: int,
                key: str = key,
                barrier: threading.Barrier = barrier,
                outcomes: list[bool | None] = outcomes,
            ) -> None:
                barrier.wait()
                outcomes[index] = storage.put_if_empty(key, f"thread-{index}".encode())

            _run_threads(threads, racer)
            winners = [index for index, won in enumerate(outcomes) if won]
            assert len(winners) == 1, f"put_if_empty() returned True {len(winners)} times"
            assert all(won is False for won in outcomes if not won)
            assert storage.peek_data(key) == f"thread-{winners[0]}".encode()

    def test_result_store_size_and_items(self, storage: BaseStorage) -> None:
        values = {f"key-{index}": f"value-{index}".encode() for index in range(5)}
        for key, value in values.items():
            storage.put_data(key, value)
        assert storage.result_store_size() == 5
        assert storage.result_items() == values
        storage.delete_data("key-0")
        storage.delete_data("key-1")
        assert storage.result_store_size() == 3
        del values["key-0"], values["key-1"]
        assert storage.result_items() == values
        storage.result_items()["key-2"] = b"changed"  # A copy, not a live view.
        assert storage.peek_data("key-2") == b"value-2"

    def test_flush_results(self, storage: BaseStorage) -> None:
        for index in range(3):
            storage.put_data(f"k{index}", b"v", is_result=bool(index % 2))
        storage.enqueue(b"queued")
        storage.flush_results()
        assert storage.result_store_size() == 0
        assert storage.result_items() == {}
        assert storage.has_data_for_key("k0") is False
        assert storage.queue_size() == 1, "flush_results() must not touch the queue"

    # -- binary data and awkward keys ----------------------------------------------------------
    def test_binary_values_round_trip(self, storage: BaseStorage) -> None:
        every_byte = bytes(range(256))
        values = {
            "every-byte": every_byte * 4,
            "empty": b"",
            "nul": b"\x00",
            "newlines": b"\n\r\n\r",
            "large": os.urandom(1 << 20),
        }
        values.update({f"byte-{byte}": bytes([byte]) for byte in range(256)})
        for key, value in values.items():
            storage.put_data(key, value)
        for key, value in values.items():
            assert storage.peek_data(key) == value, key
        assert storage.has_data_for_key("empty") is True, "b'' is a value, not absence"
        assert storage.result_items() == values
        assert storage.pop_data("every-byte") == every_byte * 4

    def test_binary_messages_round_trip(self, storage: BaseStorage) -> None:
        messages = [bytes([byte]) for byte in range(256)]
        messages += [bytes(range(256)), b"\x00" * 64, b"\r\n\x00\xff", os.urandom(1 << 20)]
        for message in messages:
            storage.enqueue(message)
        assert storage.enqueued_items(limit=3) == messages[:3]
        assert _drain(storage) == messages
        for index, message in enumerate(messages):
            storage.add_to_schedule(message, BASE_TIME + _seconds(index))
        assert storage.scheduled_items() == messages
        assert storage.read_schedule(BASE_TIME + _seconds(len(messages))) == messages

    def test_awkward_keys(self, storage: BaseStorage) -> None:
        values = {key: f"value of {key!r}".encode() for key in AWKWARD_KEYS}
        for key, value in values.items():
            storage.put_data(key, value)
        assert storage.result_store_size() == len(values)
        assert storage.result_items() == values
        for key, value in values.items():
            assert storage.has_data_for_key(key), key
            assert storage.peek_data(key) == value, key
        assert storage.has_data_for_key("escape") is False
        assert storage.has_data_for_key("absolute") is False
        assert storage.delete_data("a") is True
        assert storage.peek_data("a/b") == values["a/b"]
        assert storage.pop_data("a/b") == values["a/b"]
        assert storage.peek_data("a/b/c") == values["a/b/c"]
        assert storage.put_if_empty("../escape", b"x") is False
        for key in AWKWARD_KEYS:
            assert storage.incr(key) == 1, key
        assert storage.incr("Key") == 2
        assert storage.incr("key") == 2

    # -- counters ------------------------------------------------------------------------------
    def test_incr(self, storage: BaseStorage) -> None:
        assert storage.incr("c") == 1
        assert storage.incr("c") == 2
        assert storage.incr("c", 5) == 7
        assert storage.incr("c", -10) == -3
        assert storage.incr("c", 0) == -3
        assert storage.incr("negative", -4) == -4
        assert storage.incr("big", 10**12) == 10**12
        assert storage.incr("c") == -2

    def test_counters_are_separate_keys(self, storage: BaseStorage) -> None:
        storage.incr("one", 3)
        storage.incr("two", 7)
        assert storage.incr("one") == 4
        assert storage.incr("two") == 8

    def test_delete_counter(self, storage: BaseStorage) -> None:
        storage.incr("c", 5)
        storage.incr("other", 2)
        storage.delete_counter("c")
        assert storage.incr("c") == 1
        assert storage.incr("other") == 3
        storage.delete_counter("never-set")

    def test_flush_counters(self, storage: BaseStorage) -> None:
        storage.incr("a", 5)
        storage.incr("b", 6)
        storage.put_data("kept", b"v")
        storage.flush_counters()
        assert storage.incr("a") == 1
        assert storage.incr("b") == 1
        assert storage.peek_data("kept") == b"v", "flush_counters() must not touch the store"

    def test_incr_is_atomic_across_threads(self, storage: BaseStorage) -> None:
        threads, per_thread = 8, 50
        seen: list[list[int]] = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads)

        def worker(index: int) -> None:
            barrier.wait()
            for _ in range(per_thread):
                seen[index].append(storage.incr("shared"))

        _run_threads(threads, worker)
        values = sorted(value for chunk in seen for value in chunk)
        assert values == list(range(1, threads * per_thread + 1)), "lost or repeated increments"

    # -- flush_all -----------------------------------------------------------------------------
    def test_flush_all(self, storage: BaseStorage) -> None:
        storage.enqueue(b"queued")
        storage.add_to_schedule(b"scheduled", BASE_TIME)
        storage.put_data("k", b"v")
        storage.put_data("r", b"v", is_result=True)
        storage.incr("c", 10)
        storage.flush_all()
        assert storage.queue_size() == 0
        assert storage.schedule_size() == 0
        assert storage.read_schedule(BASE_TIME + _seconds(1)) == []
        assert storage.result_store_size() == 0
        assert storage.peek_data("k") is EmptyData
        assert storage.incr("c") == 1

    # -- wait_result ---------------------------------------------------------------------------
    def test_wait_result_returns_true_when_data_arrives(self, storage: BaseStorage) -> None:
        def writer() -> None:
            time.sleep(0.2)
            storage.put_data("awaited", b"done", is_result=True)

        thread = threading.Thread(target=writer, daemon=True)
        start = time.monotonic()
        thread.start()
        try:
            assert storage.wait_result("awaited", timeout=30) is True
        finally:
            thread.join(30)
        elapsed = time.monotonic() - start
        assert elapsed >= 0.15, f"wait_result() returned True after {elapsed:.3f}s, before data"
        assert elapsed < 30
        assert storage.peek_data("awaited") == b"done"

    def test_wait_result_returns_false_after_timeout(self, storage: BaseStorage) -> None:
        start = time.monotonic()
        assert storage.wait_result("missing", timeout=0.3) is False
        elapsed = time.monotonic() - start
        assert elapsed >= 0.25, f"wait_result() gave up after {elapsed:.3f}s of 0.3s"
        assert elapsed < 0.3 + self.prompt_return

    def test_wait_result_returns_true_at_once_when_data_exists(self, storage: BaseStorage) -> None:
        storage.put_data("ready", b"v", is_result=True)
        start = time.monotonic()
        assert storage.wait_result("ready", timeout=10) is True
        assert time.monotonic() - start < self.prompt_return

    # -- names, close --------------------------------------------------------------------------
    def test_different_names_are_isolated(self, new_storage: StorageFactory) -> None:
        one = new_storage("conformance_one")
        two = new_storage("conformance_two")
        one.enqueue(b"one's message")
        one.add_to_schedule(b"one's scheduled", BASE_TIME)
        one.put_data("k", b"one's value")
        assert one.incr("c", 5) == 5
        assert two.queue_size() == 0
        assert two.dequeue() is None
        assert two.enqueued_items() == []
        assert two.schedule_size() == 0
        assert two.read_schedule(BASE_TIME + _seconds(1)) == []
        assert two.peek_data("k") is EmptyData
        assert two.result_items() == {}
        assert two.incr("c") == 1
        two.put_data("k", b"two's value")
        two.enqueue(b"two's message")
        two.flush_all()
        assert one.dequeue() == b"one's message"
        assert one.read_schedule(BASE_TIME) == [b"one's scheduled"]
        assert one.peek_data("k") == b"one's value"
        assert one.incr("c") == 6

    def test_close(self, storage_factory: StorageFactory) -> None:
        storage = storage_factory(self.queue_name)
        storage.put_data("k", b"v")
        storage.enqueue(b"queued")
        assert storage.close() in (None, True, False)

    # -- the Huey API on this storage ----------------------------------------------------------
    def test_huey_task_round_trip(self, huey: Huey) -> None:
        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        result = add(1, 2)
        assert huey.storage.queue_size() == 1
        assert [task.id for task in huey.pending()] == [result.id]  # type: ignore[union-attr]
        task = huey.dequeue()
        assert task is not None and task.id == result.id  # type: ignore[union-attr]
        assert task.args == (1, 2)
        assert huey.storage.queue_size() == 0
        assert result.get() is None  # type: ignore[union-attr]
        assert huey.execute(task) == 3
        assert huey.storage.result_store_size() == 1
        assert result.get() == 3  # type: ignore[union-attr]
        if huey.storage.destructive_reads:
            assert huey.storage.result_store_size() == 0, "a result is removed once read"
        else:
            result.reset()  # type: ignore[union-attr]
            assert result.get() == 3, "read again until it expires"  # type: ignore[union-attr]

    def test_huey_failed_task_stores_the_error(self, huey: Huey) -> None:
        @huey.task()
        def fail() -> None:
            raise ValueError("broken")

        result = fail()
        task = huey.dequeue()
        assert task is not None
        huey.execute(task)
        with pytest.raises(TaskException) as info:
            result.get()  # type: ignore[union-attr]
        assert "broken" in info.value.metadata["error"]

    def test_huey_blocking_result_from_a_worker_thread(self, huey: Huey) -> None:
        @huey.task()
        def mul(a: int, b: int) -> int:
            return a * b

        result = mul(6, 7)

        def worker() -> None:
            time.sleep(0.1)
            task = huey.dequeue()
            assert task is not None
            huey.execute(task)

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        try:
            assert result.get(blocking=True, timeout=30) == 42  # type: ignore[union-attr]
        finally:
            thread.join(30)

    def test_huey_scheduled_task(self, huey: Huey) -> None:
        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        result = add.schedule((2, 3), delay=3600)
        task = huey.dequeue()
        assert task is not None and task.eta is not None
        assert huey.execute(task) is None, "a task not yet due must not run"
        assert huey.storage.schedule_size() == 1
        assert [t.id for t in huey.scheduled()] == [task.id]
        assert huey.read_schedule(task.eta - _seconds(1)) == []
        due = huey.read_schedule(task.eta)
        assert [t.id for t in due] == [task.id]
        assert huey.storage.schedule_size() == 0
        assert huey.execute(due[0], timestamp=task.eta) == 5
        assert result.get() == 5  # type: ignore[union-attr]

    def test_huey_pipeline(self, huey: Huey) -> None:
        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        pipeline = add.s(1, 2).then(add, 3).then(add, 4)
        results = huey.enqueue(pipeline)
        executed = 0
        while huey.storage.queue_size():
            task = huey.dequeue()
            assert task is not None
            huey.execute(task)
            executed += 1
        assert executed == 3
        assert results.get() == [3, 6, 10]  # type: ignore[union-attr]

    def test_huey_priority_tasks_run_highest_first(self, huey: Huey) -> None:
        if not huey.storage.supports_priority:
            pytest.skip("needs supports_priority")

        @huey.task()
        def echo(value: str) -> str:
            return value

        echo("low", priority=1)
        echo("default")
        echo("high", priority=10)
        echo("mid", priority=5)
        order = []
        while huey.storage.queue_size():
            task = huey.dequeue()
            assert task is not None
            order.append(huey.execute(task))
        assert order == ["high", "mid", "low", "default"]

    def test_huey_revocations_read_with_a_message_are_its_own(self, huey: Huey) -> None:
        """``dequeue_with_revocations`` (and ``lease``) take messages in order; what they read
        of revocation keys is theirs and current (a worker skips its own read of those keys)."""

        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        tasks = [add.s(n, n) for n in range(4)]
        for task in tasks:
            huey.enqueue(task)
        huey.revoke_by_id(tasks[1].id, revoke_once=True)
        add.revoke()
        storage = huey.storage
        taken: list[tuple[bytes, dict[str, Any]]] = []
        for index in range(len(tasks)):
            if index % 2 and storage.supports_leases:  # What lease() read, likewise.
                lease = storage.lease(60)
                assert lease is not None
                taken.append((lease.data, lease.revocations or {}))
                storage.ack(lease.id)
            else:
                popped = storage.dequeue_with_revocations()
                assert popped is not None
                taken.append(popped)
        for task, (data, fields) in zip(tasks, taken, strict=True):
            assert huey.deserialize_task(data).id == task.id
            assert set(fields) <= {f"r:{task.id}", f"rt:{add.qualified_name}"}
            for key, value in fields.items():
                assert value == storage.peek_data(key), key
        assert storage.queue_size() == 0

    def test_huey_lock_and_revoke(self, huey: Huey) -> None:
        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        with huey.lock_task("exclusive"):
            assert huey.is_locked("exclusive")
            with pytest.raises(TaskLockedException), huey.lock_task("exclusive"):
                pass
        assert not huey.is_locked("exclusive")

        lock = huey.lock_task("expiring", ttl=self.short_ttl)
        lock.acquire()  # Never released, as by a killed worker: the ttl frees it.
        with pytest.raises(TaskLockedException):
            huey.lock_task("expiring").acquire()
        deadline = time.monotonic() + self.expiry_wait
        while huey.is_locked("expiring"):
            assert time.monotonic() < deadline, "a lock with a ttl did not expire"
            time.sleep(0.02)
        with huey.lock_task("expiring", ttl=600):
            assert huey.is_locked("expiring")
        assert not huey.is_locked("expiring")

        result = add(1, 1)
        result.revoke()  # type: ignore[union-attr]
        task = huey.dequeue()
        assert task is not None
        assert huey.execute(task) is None, "a revoked task must not run"
        assert result.get() is None  # type: ignore[union-attr]
