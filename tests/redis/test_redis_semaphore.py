"""huey.contrib.helpers: RedisSemaphore and lock_task_semaphore on a private redis-server."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from huey import MemoryHuey, RedisHuey
from huey.contrib.helpers import RedisSemaphore, lock_task_semaphore
from huey.exceptions import ConfigurationError, TaskLockedException


@pytest.fixture
def app(connection: dict[str, Any]) -> RedisHuey:
    return RedisHuey("sem", **connection)


def test_up_to_value_holders(app: RedisHuey, redis_client: redis.Redis) -> None:
    semaphore = RedisSemaphore(app, "slots", 2)
    first, second = semaphore.acquire(), semaphore.acquire()
    assert first is not None and second is not None and first != second
    assert semaphore.acquire() is None
    assert semaphore.acquire(first) == first  # Held already: refreshed, still two holders.
    assert semaphore.release(second) == 1
    assert semaphore.release(second) == 0
    assert semaphore.acquire("mine") == "mine"
    assert semaphore.acquire() is None
    # huey 3.5.4's key and layout: a sorted set of holders at <huey name>.lock.<name>.
    assert semaphore.key == "sem.lock.slots"
    assert set(redis_client.zrange("sem.lock.slots", 0, -1)) == {first.encode(), b"mine"}


def test_no_more_than_value_holders_under_contention(app: RedisHuey) -> None:
    semaphore = RedisSemaphore(app, "contended", 5)
    barrier = threading.Barrier(20)
    taken: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        barrier.wait()
        holder = semaphore.acquire()
        if holder is not None:
            with lock:
                taken.append(holder)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) == 5


def test_a_holder_not_renewed_loses_its_slot(app: RedisHuey) -> None:
    semaphore = RedisSemaphore(app, "lapsing", 1, timeout=0.2)
    holder = semaphore.acquire()
    assert holder is not None and semaphore.acquire() is None
    deadline = time.monotonic() + 30
    while (other := semaphore.acquire()) is None:
        assert time.monotonic() < deadline, "the slot never came back"
        time.sleep(0.05)
    assert semaphore.renew(holder) is False  # A lapsed holder cannot renew its way back in.
    assert semaphore.renew(other) is True


def test_lock_task_semaphore_renews_the_slot_while_running(
    app: RedisHuey, redis_client: redis.Redis
) -> None:
    started, finish = threading.Event(), threading.Event()

    @lock_task_semaphore(app, "renewed", 1, timeout=0.3)
    def slow() -> str:
        started.set()
        finish.wait(30)
        return "done"

    outcome: dict[str, str] = {}
    worker = threading.Thread(target=lambda: outcome.update(value=slow()))
    worker.start()
    assert started.wait(30)
    time.sleep(1.0)  # Over three timeouts: only renewals keep the slot.
    with pytest.raises(TaskLockedException, match="renewed"):
        slow()
    finish.set()
    worker.join(30)
    assert outcome == {"value": "done"}
    assert redis_client.zcard("sem.lock.renewed") == 0  # Released when the call ended.


def test_a_locked_task_is_retried(app: RedisHuey) -> None:
    @app.task(retries=1)
    @lock_task_semaphore(app, "task-slot", 1)
    def work() -> int:
        return 1

    holder = RedisSemaphore(app, "task-slot", 1).acquire()
    assert holder is not None
    result = work()
    assert app.execute(app.dequeue()) is None  # Locked: the task goes back for its retry.
    RedisSemaphore(app, "task-slot", 1).release(holder)
    retry = app.dequeue() or app.scheduled()[0]
    assert app.execute(retry) == 1
    assert result.get() == 1  # type: ignore[union-attr]


def test_a_storage_without_redis_is_refused_on_first_use() -> None:
    semaphore = RedisSemaphore(MemoryHuey("mem"), "slot", 1)  # Building it is fine.
    with pytest.raises(ConfigurationError, match="Redis"):
        semaphore.acquire()
    with pytest.raises(ValueError):
        RedisSemaphore(MemoryHuey("mem"), "slot", 0)
