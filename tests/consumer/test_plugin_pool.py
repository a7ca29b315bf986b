"""The worker-type plugin contract, seen from a pool that is not one of core's."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from consumer_support import wait_for

from huey import MemoryHuey
from huey._workers import INTERRUPT_GRACE, Worker, WorkerPool, load_worker_type, worker_types
from huey.exceptions import ConfigurationError


class OneThreadPool(WorkerPool):
    """A pool built from the documented building blocks; it records what the consumer asks."""

    worker_type = "one-thread"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[str] = []
        self.stop_event = threading.Event()
        self.worker = Worker(self.huey, self.settings, self.stop_event, name="only")
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def start(self) -> None:
        self.calls.append("start")
        self.thread.start()

    def alive(self) -> int:
        return int(self.thread.is_alive())

    def check_health(self) -> int:
        if "check_health" not in self.calls:
            self.calls.append("check_health")
        return 0

    def request_stop(self) -> None:
        self.calls.append("request_stop")
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self.calls.append("interrupt")
        self.stop_event.set()
        self.join(grace)


def test_a_pool_class_can_be_plugged_in(start_consumer: Any) -> None:
    huey = MemoryHuey("plugin")

    @huey.task()
    def double(n: int) -> int:
        return 2 * n

    consumer = start_consumer(huey, worker_type=OneThreadPool)
    pool = consumer.pool
    assert isinstance(pool, OneThreadPool)
    assert double(21).get(blocking=True, timeout=10) == 42
    wait_for(lambda: "check_health" in pool.calls, what="a health check")
    consumer.restart()
    wait_for(lambda: consumer.pool is not pool and consumer.pool.calls == ["start"], what="restart")
    assert pool.calls == ["start", "check_health", "request_stop"]
    replacement = consumer.pool
    assert consumer.stop(graceful=False, timeout=10)
    assert replacement.calls[-1] == "interrupt"


def test_core_worker_types_are_found_through_entry_points() -> None:
    assert {"thread", "process", "greenlet"} <= set(worker_types())
    assert load_worker_type("thread").worker_type == "thread"
    with pytest.raises(ConfigurationError, match="unknown worker type 'fiber'"):
        load_worker_type("fiber")
    with pytest.raises(ConfigurationError, match="not a WorkerPool"):
        load_worker_type(dict)  # type: ignore[arg-type]


def test_a_pool_that_fails_to_start_fails_start(start_consumer: Any) -> None:
    class Broken(OneThreadPool):
        def start(self) -> None:
            raise RuntimeError("no workers today")

    consumer = MemoryHuey("broken").create_consumer(worker_type=Broken)
    with pytest.raises(RuntimeError, match="no workers today"):
        consumer.start()
    assert not consumer.is_running


def test_max_tasks_is_refused_for_a_pool_that_cannot_recycle() -> None:
    # OneThreadPool leaves supports_max_tasks False: its worker would never be replaced.
    with pytest.raises(ConfigurationError, match="-M/--max-tasks: worker type 'one-thread'"):
        MemoryHuey("no-recycling").create_consumer(worker_type=OneThreadPool, max_tasks=5)
