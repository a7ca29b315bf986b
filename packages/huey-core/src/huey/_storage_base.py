"""The storage contract every backend implements."""

from __future__ import annotations

import abc
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from huey.constants import EmptyData
from huey.exceptions import ConfigurationError

#: The first pause (seconds) of a polling result wait. A task on an idle consumer finishes well
#: within a millisecond, so checks start that close together and back off from there.
FIRST_RESULT_POLL = 0.0002

#: A key of the key/value store or of a counter: text, or its UTF-8 bytes (huey's storages take
#: both, and ``b"k"`` names the same entry as ``"k"``).
Key = str | bytes


def key_text(key: Key) -> str:
    """``key`` as the text every storage stores it under (bytes are decoded as UTF-8)."""
    return key.decode("utf-8") if isinstance(key, bytes) else key


def check_ttl(ttl: float | None) -> float | None:
    """``ttl`` (seconds) as a float, or None; anything but a positive number is refused."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"ttl must be a number of seconds, not {type(ttl).__name__}")
    if not ttl > 0:  # Also refuses NaN.
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
    return float(ttl)


class Lease(NamedTuple):
    """One delivery of a queued message: it stays stored, invisible to other ``lease()`` calls,
    until it is acknowledged or its lease lapses."""

    #: Names this delivery only: after the lease lapses and the message is leased again, the
    #: old id neither acknowledges nor extends it.
    id: str
    data: bytes
    #: How many times the message has been leased, this time included.
    deliveries: int
    #: What the storage read of the message's revocation keys with it, as
    #: ``dequeue_with_revocations`` does; None when it read none.
    revocations: dict[str, Any] | None = None


class BaseStorage(abc.ABC):
    """Queue, schedule, key/value result store and counters for one named queue.

    Capabilities are declared as class flags and enforced by the runtime:

    * ``supports_priority``: ``enqueue`` honours ``priority`` (higher first). Without it,
      enqueueing a prioritized task raises ``ConfigurationError``.
    * ``supports_blocking_dequeue``: ``dequeue`` (and ``lease``) wait, up to a read timeout,
      for a message, so the consumer does not need to poll.
    * ``supports_leases``: the lease operations (``lease``, ``ack``, ``extend_lease``) and the
      dead-letter store, which at-least-once delivery is built on. Without it, those methods
      raise ``NotImplementedError``.
    * ``destructive_reads``: ``pop_data`` removes what it returns. A storage whose data expires
      on its own (``RedisExpireStorage``) turns it off: ``pop_data`` is then a ``peek_data``,
      so a result can be read again until it expires, as in huey 3.5.4.

    Keys of the key/value store and of the counters may be ``str`` or UTF-8 ``bytes``; equal
    keys name the same entry (``key_text``), and ``result_items`` reports them as ``str``. An
    entry stored by ``put_if_empty(..., ttl=...)`` reads as absent once ``ttl`` seconds have
    passed, to every method; a write by ``put_data`` replaces it and its expiry.
    """

    supports_priority: ClassVar[bool] = False
    supports_leases: ClassVar[bool] = False
    destructive_reads: ClassVar[bool] = True
    # An instance may turn it off (e.g. ``blocking=False``), so it is not a ClassVar.
    supports_blocking_dequeue: bool = False

    @property
    def priority(self) -> bool:
        """huey 3.5.4's name for ``supports_priority``; setting it sets this storage's flag."""
        return self.supports_priority

    @priority.setter
    def priority(self, value: bool) -> None:
        self.supports_priority = bool(value)  # type: ignore[misc]  # per instance, as in huey

    def __init__(self, name: str = "huey", **kwargs: Any) -> None:
        if kwargs:
            names = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {names}")
        self.name = name

    # -- queue ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Add ``data`` to the queue; higher ``priority`` first where supported."""

    def enqueue_many(self, items: Sequence[tuple[bytes, float | None]]) -> None:
        """Enqueue ``(data, priority)`` pairs in order, as that many ``enqueue`` calls would.

        The default makes those calls; storages that can write a batch in one round trip
        override it (``map``, groups and chords enqueue through it).
        """
        for data, priority in items:
            self.enqueue(data, priority)

    @abc.abstractmethod
    def dequeue(self) -> bytes | None:
        """Atomically remove and return the next message, or None when the queue is empty."""

    def dequeue_with_revocations(self) -> tuple[bytes, dict[str, Any]] | None:
        """``dequeue()``, with what the storage read of the message's revocation keys
        (``r:<task id>`` and ``rt:<task name>``, ``EmptyData`` where unset) in the same round
        trip: the worker then skips its own read of those keys. The default reads none.
        """
        data = self.dequeue()
        return None if data is None else (data, {})

    @abc.abstractmethod
    def queue_size(self) -> int: ...

    @abc.abstractmethod
    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        """Non-destructively read up to ``limit`` messages, in dequeue order."""

    @abc.abstractmethod
    def flush_queue(self) -> None:
        """Remove every queued message, leased ones included."""

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
    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None: ...

    @abc.abstractmethod
    def peek_data(self, key: Key) -> Any:
        """The value at ``key``, or ``EmptyData``."""

    @abc.abstractmethod
    def pop_data(self, key: Key) -> Any:
        """Remove and return the value at ``key``, or ``EmptyData`` (without
        ``destructive_reads``: return it and leave it)."""

    def peek_data_many(self, keys: Sequence[Key]) -> list[Any]:
        """The values at ``keys``, in order (``EmptyData`` for missing ones).

        The default reads one key at a time; storages that can read several in one round trip
        override it (the worker checks two revocation keys per task).
        """
        return [self.peek_data(key) for key in keys]

    def peek_many(self, keys: Sequence[Key]) -> Mapping[Key, bytes]:
        """The keys among ``keys`` that have data, mapped to it (huey 3.5.4's batched read)."""
        values = self.peek_data_many(keys)
        return {
            key: value for key, value in zip(keys, values, strict=True) if value is not EmptyData
        }

    @abc.abstractmethod
    def delete_data(self, key: Key) -> bool: ...

    @abc.abstractmethod
    def has_data_for_key(self, key: Key) -> bool: ...

    @abc.abstractmethod
    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        """Atomically store ``value`` unless ``key`` is set; True when it was stored.

        With ``ttl`` (seconds, fractions allowed) the entry expires on its own: a lock left by
        a killed worker is freed. ``check_ttl`` refuses a ttl that is not a positive number.
        """

    @abc.abstractmethod
    def result_store_size(self) -> int: ...

    @abc.abstractmethod
    def result_items(self) -> dict[str, bytes]: ...

    @abc.abstractmethod
    def flush_results(self) -> None: ...

    # -- counters ------------------------------------------------------------------------------
    @abc.abstractmethod
    def incr(self, key: Key, amount: int = 1) -> int:
        """Atomically add ``amount`` to the counter (missing counts as 0); the new value."""

    @abc.abstractmethod
    def delete_counter(self, key: Key) -> None: ...

    @abc.abstractmethod
    def flush_counters(self) -> None: ...

    # -- leases (supports_leases) --------------------------------------------------------------
    def lease(self, visibility_timeout: float) -> Lease | None:
        """Take the next message without removing it, hidden for ``visibility_timeout`` seconds.

        The seconds count from a moment inside the call once the storage holds the message,
        after any wait (for a lock, the database, a message), never from before one: a holder
        timing its lease from just before the call never overestimates it.

        A message whose lease lapsed (never acknowledged nor extended in time) comes before
        the queue, counted as one more delivery. Waits like ``dequeue`` where the storage
        blocks; None when there is nothing to take.
        """
        raise self._no_leases()

    def ack(self, lease_id: str) -> bool:
        """Remove the leased message for good; False when the lease is unknown: acknowledged
        already, or lapsed and taken by a new delivery (a lapsed lease nobody took yet still
        acknowledges: the work is done and nobody else has it)."""
        raise self._no_leases()

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        """Keep the message hidden ``visibility_timeout`` seconds from now (counted as in
        ``lease``; 0: show it again at once); False when the lease is unknown or has lapsed."""
        raise self._no_leases()

    def lease_count(self) -> int:
        """How many messages are leased (taken, not yet acknowledged), lapsed ones included."""
        raise self._no_leases()

    # -- dead letters (supports_leases) --------------------------------------------------------
    def add_dead_letter(self, key: str, data: bytes) -> None:
        """Store a dead-letter record under ``key``, replacing one already there."""
        raise self._no_leases()

    def dead_letter_items(self) -> dict[str, bytes]:
        raise self._no_leases()

    def dead_letter_count(self) -> int:
        raise self._no_leases()

    def delete_dead_letter(self, key: str) -> bool:
        raise self._no_leases()

    def flush_dead_letters(self) -> None:
        raise self._no_leases()

    def _no_leases(self) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} does not support leases or dead letters "
            "(supports_leases is False)"
        )

    # -- defaults ------------------------------------------------------------------------------
    def wait_result(
        self,
        key: Key,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        """Block until ``key`` has data (True) or ``timeout`` passes (False).

        Checks start ``FIRST_RESULT_POLL`` apart and grow by ``backoff`` up to ``max_delay`` while
        ``sleep_for_result`` reports no wake-up.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = FIRST_RESULT_POLL
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
        if self.supports_leases:
            self.flush_dead_letters()

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


__all__ = ["BaseStorage", "EmptyData", "Key", "Lease", "check_ttl", "key_text"]
