"""In-process storages: ``MemoryStorage`` for tests and immediate mode, ``BlackHoleStorage``."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
import time
import uuid
from typing import Any

from huey._storage_base import BaseStorage, Key, Lease, check_ttl, key_text
from huey.constants import EmptyData
from huey.utils import to_timestamp


class MemoryStorage(BaseStorage):
    """Everything in dictionaries and heaps of this process; thread-safe."""

    supports_priority = True
    supports_leases = True

    def __init__(self, name: str = "huey", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._queue: list[tuple[float, int, bytes]] = []
        self._schedule: list[tuple[float, int, bytes]] = []
        self._results: dict[str, bytes] = {}
        # Key -> when (time.monotonic()) the entry put_if_empty stored with a ttl expires.
        self._expiry: dict[str, float] = {}
        self._counters: dict[str, int] = {}
        # Lease id -> [deadline (monotonic), deliveries, message].
        self._leases: dict[str, list[Any]] = {}
        self._dead_letters: dict[str, bytes] = {}

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        with self._lock:
            heapq.heappush(self._queue, (-(priority or 0), next(self._seq), data))

    def dequeue(self) -> bytes | None:
        with self._lock:
            return heapq.heappop(self._queue)[2] if self._queue else None

    def queue_size(self) -> int:
        return len(self._queue)

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        with self._lock:
            return [item[2] for item in sorted(self._queue)[:limit]]

    def flush_queue(self) -> None:
        with self._lock:
            self._queue = []
            self._leases = {}

    def lease(self, visibility_timeout: float) -> Lease | None:
        with self._lock:
            # Read once the lock is held: a deadline counted from before waiting for it would
            # lapse that much early.
            now = time.monotonic()
            lapsed = min(self._leases.items(), key=lambda item: item[1][0], default=None)
            if lapsed is not None and lapsed[1][0] <= now:
                _, deliveries, data = self._leases.pop(lapsed[0])
                deliveries += 1
            elif self._queue:
                data, deliveries = heapq.heappop(self._queue)[2], 1
            else:
                return None
            lease_id = uuid.uuid4().hex
            self._leases[lease_id] = [now + visibility_timeout, deliveries, data]
            return Lease(lease_id, data, deliveries)

    def ack(self, lease_id: str) -> bool:
        with self._lock:
            return self._leases.pop(lease_id, None) is not None

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        with self._lock:
            now = time.monotonic()  # Once the lock is held, as in lease().
            held = self._leases.get(lease_id)
            if held is None or held[0] <= now:
                return False
            held[0] = now + visibility_timeout
            return True

    def lease_count(self) -> int:
        return len(self._leases)

    def add_dead_letter(self, key: str, data: bytes) -> None:
        with self._lock:
            self._dead_letters[key] = data

    def dead_letter_items(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._dead_letters)

    def dead_letter_count(self) -> int:
        return len(self._dead_letters)

    def delete_dead_letter(self, key: str) -> bool:
        with self._lock:
            return self._dead_letters.pop(key, None) is not None

    def flush_dead_letters(self) -> None:
        with self._lock:
            self._dead_letters = {}

    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        with self._lock:
            heapq.heappush(self._schedule, (to_timestamp(ts), next(self._seq), data))

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        cutoff = to_timestamp(ts)
        due = []
        with self._lock:
            while self._schedule and self._schedule[0][0] <= cutoff:
                due.append(heapq.heappop(self._schedule)[2])
        return due

    def schedule_size(self) -> int:
        return len(self._schedule)

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        with self._lock:
            return [item[2] for item in sorted(self._schedule)[:limit]]

    def flush_schedule(self) -> None:
        with self._lock:
            self._schedule = []

    def _expire(self, key: str | None = None) -> None:
        """Drop expired entries (only ``key``'s, when given); call with the lock held."""
        if not self._expiry:
            return
        now = time.monotonic()
        keys = [key] if key is not None else list(self._expiry)
        for name in keys:
            deadline = self._expiry.get(name)
            if deadline is not None and deadline <= now:
                del self._expiry[name]
                self._results.pop(name, None)

    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        key = key_text(key)
        with self._lock:
            self._results[key] = value
            self._expiry.pop(key, None)

    def peek_data(self, key: Key) -> Any:
        key = key_text(key)
        with self._lock:
            self._expire(key)
            return self._results.get(key, EmptyData)

    def pop_data(self, key: Key) -> Any:
        key = key_text(key)
        with self._lock:
            self._expire(key)
            self._expiry.pop(key, None)
            return self._results.pop(key, EmptyData)

    def delete_data(self, key: Key) -> bool:
        return self.pop_data(key) is not EmptyData

    def has_data_for_key(self, key: Key) -> bool:
        key = key_text(key)
        with self._lock:
            self._expire(key)
            return key in self._results

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        key, ttl = key_text(key), check_ttl(ttl)
        with self._lock:
            self._expire(key)
            if key in self._results:
                return False
            self._results[key] = value
            if ttl is not None:
                self._expiry[key] = time.monotonic() + ttl
            return True

    def result_store_size(self) -> int:
        with self._lock:
            self._expire()
            return len(self._results)

    def result_items(self) -> dict[str, bytes]:
        with self._lock:
            self._expire()
            return dict(self._results)

    def flush_results(self) -> None:
        with self._lock:
            self._results = {}
            self._expiry = {}

    def incr(self, key: Key, amount: int = 1) -> int:
        key = key_text(key)
        with self._lock:
            value = self._counters[key] = self._counters.get(key, 0) + amount
            return value

    def delete_counter(self, key: Key) -> None:
        with self._lock:
            self._counters.pop(key_text(key), None)

    def flush_counters(self) -> None:
        with self._lock:
            self._counters = {}


class BlackHoleStorage(BaseStorage):
    """Discards every write and always reads empty: for checking that tasks are called."""

    supports_priority = True

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        pass

    def dequeue(self) -> bytes | None:
        return None

    def queue_size(self) -> int:
        return 0

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        return []

    def flush_queue(self) -> None:
        pass

    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        pass

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        return []

    def schedule_size(self) -> int:
        return 0

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        return []

    def flush_schedule(self) -> None:
        pass

    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        pass

    def peek_data(self, key: Key) -> Any:
        return EmptyData

    def pop_data(self, key: Key) -> Any:
        return EmptyData

    def delete_data(self, key: Key) -> bool:
        return False

    def has_data_for_key(self, key: Key) -> bool:
        return False

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        check_ttl(ttl)
        return True

    def result_store_size(self) -> int:
        return 0

    def result_items(self) -> dict[str, bytes]:
        return {}

    def flush_results(self) -> None:
        pass

    def incr(self, key: Key, amount: int = 1) -> int:
        return amount

    def delete_counter(self, key: Key) -> None:
        pass

    def flush_counters(self) -> None:
        pass
