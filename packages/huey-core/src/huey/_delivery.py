"""Delivery guarantees: at-most-once or at-least-once (leases), and the dead letters.

At-most-once (the default, huey's behaviour) takes a message off the queue before its task
runs: a worker that dies mid-task loses it. At-least-once leases the message instead and
acknowledges it only once the task's outcome is recorded; a lease that is not kept alive lapses
after ``visibility_timeout`` and the message is delivered again. A message delivered
``max_deliveries`` times without an outcome, or one that cannot become a task at all, goes to the
dead letters, where it waits to be inspected, requeued or flushed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from huey.exceptions import ConfigurationError

if TYPE_CHECKING:
    from huey._task import Task
    from huey.api import Huey
    from huey.serializer import Serializer

logger = logging.getLogger("huey.delivery")

AT_MOST_ONCE = "at-most-once"
AT_LEAST_ONCE = "at-least-once"
DELIVERY_MODES = (AT_MOST_ONCE, AT_LEAST_ONCE)


def check_delivery(delivery: Any) -> str:
    if delivery not in DELIVERY_MODES:
        raise ConfigurationError(
            f"delivery must be {AT_MOST_ONCE!r} or {AT_LEAST_ONCE!r}, not {delivery!r}"
        )
    return str(delivery)


def check_lease_options(visibility_timeout: Any, max_deliveries: Any) -> tuple[float, int]:
    if (
        isinstance(visibility_timeout, bool)
        or not isinstance(visibility_timeout, int | float)
        or not visibility_timeout > 0
    ):
        raise ConfigurationError(
            f"visibility_timeout must be a number of seconds above 0, not {visibility_timeout!r}"
        )
    if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int):
        raise ConfigurationError(f"max_deliveries must be an int, not {max_deliveries!r}")
    if max_deliveries < 1:
        raise ConfigurationError(f"max_deliveries must be at least 1, not {max_deliveries}")
    return float(visibility_timeout), max_deliveries


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A message that was given up on: what it was, why, when, and after how many deliveries."""

    #: The task id when the message could be read, else a digest of its bytes.
    id: str
    #: The message as it was queued; ``requeue_dead_letters()`` queues these bytes again.
    data: bytes
    reason: str
    #: When it was dead-lettered (naive, UTC or local time as the Huey's ``utc`` says).
    time: dt.datetime
    deliveries: int
    #: The task name when the message could be read.
    name: str | None = None
    #: The task, when it can be read with the tasks registered now.
    task: Task | None = dataclasses.field(default=None, compare=False)

    def record(self) -> tuple[Any, ...]:
        """The stored form: builtins only, so any later version can read it."""
        return (1, self.data, self.reason, self.time, self.deliveries, self.name)

    @classmethod
    def from_record(cls, key: str, record: tuple[Any, ...]) -> DeadLetter:
        _version, data, reason, when, deliveries, name = record[:6]
        return cls(key, data, reason, when, deliveries, name)


def letter_identity(data: bytes, serializer: Serializer) -> tuple[str, str | None]:
    """The dead letter's id and task name: the message's own where it decodes (an unknown
    task's too), else a digest of its bytes. A message dead twice keeps one letter."""
    try:
        message = serializer.deserialize(data)
        task_id, name = message[0], message[1]
    except Exception:
        task_id = name = None
    if isinstance(task_id, str) and isinstance(name, str):
        return task_id, name
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32], None


class LeaseKeeper:
    """Extends the leases of this process's running tasks, so long tasks are not redelivered.

    One daemon thread (a greenlet under gevent) per Huey and process, started on the first
    lease; a forked worker process starts its own. It renews every lease a third of the
    visibility timeout before it would lapse, so one missed renewal does not lose it.
    """

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._held: dict[str, str] = {}  # lease id -> task, for the log
        self._lock = threading.Lock()
        self._pid = 0

    def hold(self, lease_id: str, task: Task) -> None:
        with self._lock:
            self._held[lease_id] = str(task)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._held = {lease_id: str(task)}  # A fork copies the parent's leases.
                thread = threading.Thread(target=self._run, name="huey-lease-keeper", daemon=True)
                thread.start()

    def release(self, lease_id: str) -> None:
        with self._lock:
            self._held.pop(lease_id, None)

    def _run(self) -> None:
        interval = self.huey.visibility_timeout / 3
        while True:
            time.sleep(interval)
            with self._lock:
                held = list(self._held.items())
            for lease_id, task in held:
                self._renew(lease_id, task)

    def _renew(self, lease_id: str, task: str) -> None:
        try:
            kept = self.huey.storage.extend_lease(lease_id, self.huey.visibility_timeout)
        except Exception as exc:
            logger.warning("cannot renew the lease of %s (will retry): %r", task, exc)
            return
        with self._lock:
            # Acknowledged while we renewed it: nothing was lost.
            if kept or self._held.pop(lease_id, None) is None:
                return
        # Lapsed (this process stalled, or the storage was out): another worker may run it.
        logger.warning("lost the lease of %s: it may run again elsewhere", task)


__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "DELIVERY_MODES",
    "DeadLetter",
    "LeaseKeeper",
    "check_delivery",
    "check_lease_options",
    "letter_identity",
]
