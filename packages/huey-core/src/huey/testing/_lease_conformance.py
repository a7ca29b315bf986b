"""The lease and dead-letter part of the conformance suite (``supports_leases``).

Mixed into ``StorageConformance``: a storage that declares ``supports_leases`` must pass these;
one that does not gets them skipped, and a companion test checks that its lease methods refuse
with ``NotImplementedError`` instead of half-working.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from huey.storage import BaseStorage, Lease

StorageFactory = Callable[[str], BaseStorage]

# Long enough not to lapse during a test step, even on a loaded machine.
LONG = 60.0


def _needs_leases(storage: BaseStorage) -> None:
    if not storage.supports_leases:
        pytest.skip("needs supports_leases")


def _lease_now(storage: BaseStorage, visibility_timeout: float = LONG) -> Lease:
    lease = storage.lease(visibility_timeout)
    assert lease is not None, "lease() returned None while a message was queued"
    return lease


# How long after a lease's visibility timeout it is sure to have lapsed: a storage may round
# the deadline up to its clock's resolution (Redis: the next millisecond), never down.
LAPSE_MARGIN = 0.05


def _wait_lapsed(storage: BaseStorage, seconds: float, visibility_timeout: float = LONG) -> Lease:
    """Lease again once a lease of ``seconds`` has lapsed; fails after a generous wait.

    A lease taken before it lapsed would be the queue's next message, not the lapsed one, so
    the first try waits out the timeout and the margin.
    """
    time.sleep(seconds + LAPSE_MARGIN)
    deadline = time.monotonic() + 10
    while True:
        lease = storage.lease(visibility_timeout)
        if lease is not None:
            return lease
        assert time.monotonic() < deadline, "a lapsed lease was never delivered again"
        time.sleep(0.05)


class LeaseConformance:
    """Tests of ``lease``/``ack``/``extend_lease``/``lease_count`` and the dead-letter store."""

    #: The short visibility timeout (seconds) of the tests that let a lease lapse.
    short_visibility: ClassVar[float] = 0.3

    def test_storage_without_leases_refuses_them(self, storage: BaseStorage) -> None:
        if storage.supports_leases:
            pytest.skip("the refusal applies only when supports_leases is False")
        calls: list[Callable[[], Any]] = [
            lambda: storage.lease(1),
            lambda: storage.ack("x"),
            lambda: storage.extend_lease("x", 1),
            lambda: storage.add_dead_letter("x", b"record"),
            storage.dead_letter_items,
        ]
        for call in calls:
            with pytest.raises(NotImplementedError, match="supports_leases"):
                call()

    def test_lease_hides_the_message_until_acked(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"first")
        storage.enqueue(b"second")
        lease = _lease_now(storage)
        assert (lease.data, lease.deliveries) == (b"first", 1)
        assert isinstance(lease.id, str) and lease.id
        assert storage.queue_size() == 1
        assert storage.enqueued_items() == [b"second"]
        assert storage.lease_count() == 1
        other = _lease_now(storage)
        assert other.data == b"second" and other.id != lease.id
        assert storage.ack(lease.id) is True
        assert storage.ack(lease.id) is False  # Acknowledged once only.
        assert storage.lease_count() == 1
        assert storage.ack(other.id) is True
        assert storage.lease_count() == 0
        assert storage.queue_size() == 0

    def test_lease_on_empty_queue_returns_none(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        assert storage.lease(LONG) is None
        assert storage.lease_count() == 0

    def test_lapsed_lease_is_delivered_again_and_counted(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"crashy")
        first = _lease_now(storage, self.short_visibility)
        again = _wait_lapsed(storage, self.short_visibility)
        assert (again.data, again.deliveries) == (b"crashy", 2)
        assert again.id != first.id
        assert storage.ack(first.id) is False  # The lapsed lease no longer owns it...
        assert storage.extend_lease(first.id, LONG) is False
        assert storage.lease_count() == 1  # ...and did not remove it.
        assert storage.extend_lease(again.id, 0) is True
        third = _lease_now(storage)
        assert third.deliveries == 3
        assert storage.ack(third.id) is True
        assert storage.lease_count() == 0
        assert storage.lease(self.short_visibility) is None

    def test_lapsed_lease_comes_before_the_queue(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"old")
        _lease_now(storage, self.short_visibility)
        storage.enqueue(b"new")
        again = _wait_lapsed(storage, self.short_visibility)
        assert again.data == b"old"
        assert _lease_now(storage).data == b"new"

    def test_extend_lease_keeps_the_message_hidden(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"long task")
        lease = _lease_now(storage, self.short_visibility)
        for _ in range(3):
            time.sleep(self.short_visibility / 2)
            assert storage.extend_lease(lease.id, self.short_visibility * 2) is True
        # Past the original timeout several times over, the extension still hides it. (A
        # blocking lease() may wait out its read timeout: extend past that before looking.)
        assert storage.extend_lease(lease.id, LONG) is True
        assert storage.lease(LONG) is None
        assert storage.ack(lease.id) is True
        assert storage.extend_lease(lease.id, LONG) is False

    def test_extend_lease_to_zero_shows_the_message_at_once(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"released")
        lease = _lease_now(storage)
        assert storage.extend_lease(lease.id, 0) is True
        again = _lease_now(storage)
        assert (again.data, again.deliveries) == (b"released", 2)

    def test_a_lapsed_lease_nobody_took_still_acknowledges(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"finished late")
        lease = _lease_now(storage, self.short_visibility)
        time.sleep(self.short_visibility * 2)
        assert storage.extend_lease(lease.id, LONG) is False  # Too late to renew...
        assert storage.ack(lease.id) is True  # ...but the work is done and nobody else has it.
        assert storage.lease_count() == 0
        assert storage.lease(self.short_visibility) is None

    def test_unknown_lease_ids(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        assert storage.ack("no-such-lease") is False
        assert storage.extend_lease("no-such-lease", LONG) is False

    def test_lease_honours_priority(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        if not storage.supports_priority:
            pytest.skip("needs supports_priority")
        storage.enqueue(b"low", 1)
        storage.enqueue(b"high", 10)
        storage.enqueue(b"none")
        assert [_lease_now(storage).data for _ in range(3)] == [b"high", b"low", b"none"]

    def test_binary_message_survives_a_lease(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        payload = bytes(range(256)) + b":1:\x00:" * 3
        storage.enqueue(payload)
        lease = _lease_now(storage, self.short_visibility)
        assert lease.data == payload
        assert _wait_lapsed(storage, self.short_visibility).data == payload

    def test_flush_queue_drops_leases(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.enqueue(b"leased")
        storage.enqueue(b"queued")
        lease = _lease_now(storage, self.short_visibility)
        storage.flush_queue()
        assert storage.lease_count() == 0
        time.sleep(self.short_visibility + LAPSE_MARGIN)
        assert storage.lease(self.short_visibility) is None
        assert storage.ack(lease.id) is False

    def test_leases_are_exclusive_across_threads(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        messages = [f"m-{index:03d}".encode() for index in range(200)]
        for message in messages:
            storage.enqueue(message)
        taken: list[bytes] = []
        guard = threading.Lock()

        def worker() -> None:
            while True:
                lease = storage.lease(LONG)
                if lease is None:
                    if storage.queue_size() == 0:
                        return
                    continue
                assert storage.ack(lease.id) is True
                with guard:
                    taken.append(lease.data)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
        assert sorted(taken) == messages, "a message was leased twice, or lost"
        assert storage.lease_count() == 0

    def test_leases_of_different_names_are_isolated(self, new_storage: StorageFactory) -> None:
        one, two = new_storage("lease_one"), new_storage("lease_two")
        _needs_leases(one)
        one.enqueue(b"one's")
        lease = _lease_now(one, self.short_visibility)
        time.sleep(self.short_visibility + LAPSE_MARGIN)
        assert two.lease(self.short_visibility) is None
        assert two.lease_count() == 0
        assert two.ack(lease.id) is False
        one.add_dead_letter("k", b"one's letter")
        assert two.dead_letter_count() == 0
        two.flush_dead_letters()
        two.flush_queue()
        assert one.dead_letter_items() == {"k": b"one's letter"}
        assert _wait_lapsed(one, 0).data == b"one's"

    # -- dead letters --------------------------------------------------------------------------
    def test_dead_letters_store(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        assert storage.dead_letter_count() == 0
        assert storage.dead_letter_items() == {}
        storage.add_dead_letter("a", b"record a")
        storage.add_dead_letter("b", b"\x00binary\xff")
        storage.add_dead_letter("a", b"record a, again")  # Same key: replaced.
        assert storage.dead_letter_count() == 2
        assert storage.dead_letter_items() == {"a": b"record a, again", "b": b"\x00binary\xff"}
        assert storage.delete_dead_letter("a") is True
        assert storage.delete_dead_letter("a") is False
        assert storage.dead_letter_items() == {"b": b"\x00binary\xff"}
        storage.flush_dead_letters()
        assert storage.dead_letter_count() == 0

    def test_dead_letters_are_not_results(self, storage: BaseStorage) -> None:
        _needs_leases(storage)
        storage.add_dead_letter("k", b"letter")
        assert storage.result_store_size() == 0
        assert "k" not in storage.result_items()
        storage.flush_results()
        assert storage.dead_letter_count() == 1
        storage.flush_all()
        assert storage.dead_letter_count() == 0


__all__ = ["LeaseConformance"]
