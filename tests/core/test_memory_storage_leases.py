"""MemoryStorage's leases when another thread holds the storage: the conformance suite has the
rest of the contract."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from huey.storage import Lease, MemoryStorage

VISIBILITY = 0.5
HELD = 2 * VISIBILITY  # Longer than the visibility timeout: a lease counted from the wait lapses.


def _while_held(storage: MemoryStorage, operation: Callable[[], object]) -> object:
    """``operation()`` run in a thread that has to wait for the storage's lock meanwhile."""
    outcome: list[object] = []
    with storage._lock:  # Another thread in a long operation on the storage.
        thread = threading.Thread(target=lambda: outcome.append(operation()))
        thread.start()
        time.sleep(HELD)
    thread.join(30)
    assert outcome, "the operation did not finish once the lock was free"
    return outcome[0]


def test_a_lease_is_counted_from_when_it_is_taken_not_from_the_wait() -> None:
    storage = MemoryStorage("waits")
    storage.enqueue(b"m")
    lease = _while_held(storage, lambda: storage.lease(VISIBILITY))
    assert isinstance(lease, Lease)
    assert storage.lease(60) is None, "the lease lapsed before its visibility timeout"
    assert storage.ack(lease.id) is True


def test_an_extension_is_counted_from_when_it_is_made_not_from_the_wait() -> None:
    storage = MemoryStorage("waits")
    storage.enqueue(b"m")
    lease = storage.lease(60)
    assert lease is not None
    assert _while_held(storage, lambda: storage.extend_lease(lease.id, VISIBILITY)) is True
    assert storage.lease(60) is None, "the extension lapsed before its visibility timeout"
    assert storage.ack(lease.id) is True
