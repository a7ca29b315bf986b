"""A blocking ``lease()`` run in a thread, for the tests of how the Redis-family storages wait.

A uniquely named top-level module, as ``polling`` is, so any test directory imports it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from huey.storage import Lease


class LeaseInThread:
    """``storage.lease(60)`` started in a thread now; ``result`` is ``(lease, seconds it
    waited)`` once it returned."""

    def __init__(self, storage: Any) -> None:
        self.result: tuple[Lease | None, float] | None = None
        self.thread = threading.Thread(target=self._run, args=(storage,), daemon=True)
        self.thread.start()

    def _run(self, storage: Any) -> None:
        started = time.monotonic()
        lease = storage.lease(60)
        self.result = (lease, time.monotonic() - started)

    def join(self, timeout: float = 15) -> tuple[Lease | None, float]:
        self.thread.join(timeout)
        assert self.result is not None, f"lease() had not returned after {timeout}s"
        return self.result

    def woken_by(self, producer: Any, data: bytes) -> tuple[Lease | None, float, float]:
        """Enqueue ``data`` through ``producer``: ``(lease, seconds lease() waited in all,
        seconds from the enqueue to its return)``."""
        assert self.result is None, "lease() returned before anything was enqueued"
        enqueued = time.monotonic()
        producer.enqueue(data)
        lease, waited = self.join()
        return lease, waited, time.monotonic() - enqueued
