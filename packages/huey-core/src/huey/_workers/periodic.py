"""Claims that make each periodic task run once per minute across every consumer of a queue.

Before enqueueing periodic task T for minute M, a consumer stores the key
``<huey name>.periodic.<T>.<M as YYYYmmddHHMM>`` with ``put_if_empty``: only the consumer whose
write lands enqueues T. Each consumer deletes the keys it tried once they are ``RETENTION`` old
(far beyond any sane clock skew between consumers), and at startup sweeps the keys a crashed
consumer may have left in the hour before that.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huey._task import PeriodicTask
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.scheduler")

RETENTION = dt.timedelta(minutes=10)
SWEEP = dt.timedelta(hours=1)
_MINUTE = dt.timedelta(minutes=1)


class PeriodicClaims:
    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._owner = f"{socket.gethostname()}:{os.getpid()}".encode()
        self._tried: deque[tuple[dt.datetime, str]] = deque()

    def key(self, task_name: str, minute: dt.datetime) -> str:
        return f"{self.huey.name}.periodic.{task_name}.{minute:%Y%m%d%H%M}"

    def claim(self, task_name: str, minute: dt.datetime) -> bool:
        """True if this consumer is the one to enqueue ``task_name`` for ``minute``."""
        key = self.key(task_name, minute)
        claimed = self.huey.storage.put_if_empty(key, self._owner)
        self._tried.append((minute, key))
        return claimed

    def release(self, task_name: str, minute: dt.datetime) -> None:
        """Give a claim back (its enqueue failed) so the minute can be retried."""
        self.huey.storage.delete_data(self.key(task_name, minute))

    def expire(self, now: dt.datetime) -> None:
        """Delete the keys this consumer tried that are older than ``RETENTION``."""
        while self._tried and self._tried[0][0] <= now - RETENTION:
            _, key = self._tried.popleft()
            self.huey.storage.delete_data(key)

    def sweep(self, now: dt.datetime, task_classes: Iterable[type[PeriodicTask]]) -> int:
        """Delete keys left by stopped consumers in the ``SWEEP`` before the retention window."""
        deleted = 0
        for task_class in task_classes:
            minute = now - RETENTION - SWEEP
            while minute < now - RETENTION:
                if task_class.validate_datetime(minute):  # type: ignore[call-arg,arg-type]
                    key = self.key(task_class.qualified_name, minute)
                    deleted += self.huey.storage.delete_data(key)
                minute += _MINUTE
        return deleted
