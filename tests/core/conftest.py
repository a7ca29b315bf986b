"""Fixtures of the API behaviour tests: a MemoryHuey, a signal log and a hand-driven worker.

Tests drive tasks the way a consumer's worker does, ``huey.execute(huey.dequeue())``, and pass
``timestamp=`` instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from huey import MemoryHuey
from huey.api import Task
from huey.utils import utcnow


class SignalLog(list[tuple[str, Task, tuple[Any, ...]]]):
    """Every signal sent by one Huey, as ``(signal, task, extra args)``."""

    def names(self) -> list[str]:
        return [signal for signal, _, _ in self]

    def take(self) -> list[str]:
        """The signal names so far, clearing the log."""
        names = self.names()
        self.clear()
        return names


Drain = Callable[..., list[Any]]


@pytest.fixture
def huey() -> MemoryHuey:
    return MemoryHuey("test")


@pytest.fixture
def signals(huey: MemoryHuey) -> SignalLog:
    log = SignalLog()

    @huey.signal()
    def record(signal: str, task: Task, *args: Any) -> None:
        log.append((signal, task, args))

    return log


@pytest.fixture
def drain(huey: MemoryHuey) -> Drain:
    """``drain(h=huey, timestamp=None)``: run queued tasks until the queue is empty.

    Returns what each ``execute`` returned. Scheduled tasks stay scheduled unless ``timestamp``
    is given: then those due by it are run too, at that timestamp.
    """

    def run(h: MemoryHuey | None = None, timestamp: dt.datetime | None = None) -> list[Any]:
        h = h or huey
        values = []
        for _ in range(200):
            task = h.dequeue()
            if task is None and timestamp is not None:
                due = h.read_schedule(timestamp)
                if due:
                    values.extend(h.execute(t, timestamp) for t in due)
                    continue
            if task is None:
                return values
            values.append(h.execute(task, timestamp))
        raise AssertionError("the queue did not drain in 200 executions")

    return run


@pytest.fixture
def later() -> Callable[[float], dt.datetime]:
    """``later(seconds)``: a UTC timestamp that many seconds from now."""
    return lambda seconds: utcnow() + dt.timedelta(seconds=seconds)


@pytest.fixture
def local_tz() -> Iterator[None]:
    """Local time is UTC-5 (no DST) for the test, so local/UTC conversions are visible."""
    import os

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XST+05"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()
