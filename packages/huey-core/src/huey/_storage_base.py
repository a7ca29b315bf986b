"""The storage contract every backend implements."""

from __future__ import annotations

import abc
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from huey.constants import EmptyData
from huey.exceptions import ConfigurationError


class BaseStorage(abc.ABC):
    """Queue, schedule, key/value result store and counters for one named queue.

    Capabilities are declared as class flags and enforced by the runtime:

    * ``supports_priority``: ``enqueue`` honours ``priority`` (higher first). Without it,
      enqueueing a prioritized task raises ``ConfigurationError``.
    * ``supports_blocking_dequeue``: ``dequeue`` waits (up to a read timeout) for a message,
      so the consumer does not need to poll.
    """

    supports_priority: ClassVar[bool] = False
    # An instance may turn it off (e.g. ``blocking=False``), so it is not a ClassVar.
    supports_blocking_dequeue: bool = False

    def __init__(self, name: str = "huey", **kwargs: Any) -> None:
        if kwargs:
            names = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {names}")
        self.name = name

    # -- queue ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Add ``data`` to the queue; higher ``priority`` first where supported."""

    @abc.abstractmethod
    def dequeue(self) -> bytes | None:
        """Atomically remove and return the next message, or None when the queue is empty."""

    @abc.abstractmethod
    def queue_size(self) -> int: ...

    @abc.abstractmethod
    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        """Non-destructively read up to ``limit`` messages, in dequeue order."""

    @abc.abstractmethod
    def flush_queue(self) -> None: ...

    # -- schedule ------------------------------------------------------------------------------
    @abc.abstractmethod
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None: ...

    @abc.abstractmethod
    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        """Remove and return every scheduled message due at or before ``ts``."""

    @abc.abstractmethod
    def schedule_size(self) -> int: ...

    @abc.abstractmethod
    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        """Non-destructively read up to ``limit`` scheduled messages, soonest first."""

    @abc.abstractmethod
    def flush_schedule(self) -> None: ...

    # -- key/value result store ----------------------------------------------------------------
    @abc.abstractmethod
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None: ...

    @abc.abstractmethod
    def peek_data(self, key: str) -> Any:
        """The value at ``key``, or ``EmptyData``."""

    @abc.abstractmethod
    def pop_data(self, key: str) -> Any:
        """Remove and return the value at ``key``, or ``EmptyData``."""

    def peek_data_many(self, keys: Sequence[str]) -> list[Any]:
        """The values at ``keys``, in order (``EmptyData`` for missing ones).

        The default reads one key at a time; storages that can read several in one round trip
        override it (the worker checks two revocation keys per task).
        """
        return [self.peek_data(key) for key in keys]

    @abc.abstractmethod
    def delete_data(self, key: str) -> bool: ...

    @abc.abstractmethod
    def has_data_for_key(self, key: str) -> bool: ...

    @abc.abstractmethod
    def put_if_empty(self, key: str, value: bytes) -> bool:
        """Atomically store ``value`` unless ``key`` is set; True when it was stored."""

    @abc.abstractmethod
    def result_store_size(self) -> int: ...

    @abc.abstractmethod
    def result_items(self) -> dict[str, bytes]: ...

    @abc.abstractmethod
    def flush_results(self) -> None: ...

    # -- counters ------------------------------------------------------------------------------
    @abc.abstractmethod
    def incr(self, key: str, amount: int = 1) -> int:
        """Atomically add ``amount`` to the counter (missing counts as 0); the new value."""

    @abc.abstractmethod
    def delete_counter(self, key: str) -> None: ...

    @abc.abstractmethod
    def flush_counters(self) -> None: ...

    # -- defaults ------------------------------------------------------------------------------
    def wait_result(
        self,
        key: str,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        """Block until ``key`` has data (True) or ``timeout`` passes (False).

        Checks start one millisecond apart and grow by ``backoff`` up to ``max_delay`` while
        ``sleep_for_result`` reports no wake-up.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while not self.has_data_for_key(key):
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                delay = min(delay, remaining)
            if not self.sleep_for_result(delay):
                delay = min(delay * backoff, max_delay)
        return True

    def sleep_for_result(self, delay: float) -> bool:
        """Wait up to ``delay`` between result checks; True when a result write woke us.

        The default just sleeps; storages that can be notified of writes override it.
        """
        time.sleep(delay)
        return False

    def flush_all(self) -> None:
        self.flush_queue()
        self.flush_schedule()
        self.flush_results()
        self.flush_counters()

    def close(self) -> bool | None:
        """Release connections or handles; the default holds none."""
        return None

    def check_priority(self, priority: float | None) -> None:
        """Refuse a priority this storage cannot honour."""
        if priority is not None and not self.supports_priority:
            raise ConfigurationError(
                f"{type(self).__name__} does not support task priorities "
                "(supports_priority is False); drop the priority or use a storage that "
                "supports it"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


__all__ = ["BaseStorage", "EmptyData"]
