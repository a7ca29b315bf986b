"""``ValkeyGlideStorage`` leases: the keys and scripts of huey's Redis storages, shared with
them, and the blocking wait (``BLMOVE`` on the thread's blocking client, or polling).

The generic lease contract is in the conformance suite (``tests/test_conformance.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from lease_waits import LeaseInThread
from polling import wait_for
from redis_servers import RedisServer

from huey.backends.redis import RedisStorage
from huey.contrib.valkey_glide import ValkeyGlideStorage
from huey.storage import Lease


@pytest.fixture
def storages(port: int) -> Iterator[Any]:
    """``make(name='app', **options)``: storages on the private server, closed afterwards."""
    made: list[ValkeyGlideStorage] = []

    def make(name: str = "app", **options: Any) -> ValkeyGlideStorage:
        options.setdefault("port", port)
        storage = ValkeyGlideStorage(name, **options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()


def _leased(storage: Any, visibility_timeout: float = 60) -> Lease:
    lease = storage.lease(visibility_timeout)
    assert lease is not None
    return lease


def test_leases_are_shared_with_redis_storage(storages: Any, redis_py: Any, port: int) -> None:
    glide = storages("shared", blocking=False)
    redis_storage = RedisStorage("shared", blocking=False, port=port)
    glide.enqueue(b"one\x00")
    lease = _leased(glide)
    assert redis_py.type("huey.leases.shared") == b"hash"
    assert redis_py.type("huey.lease_deadlines.shared") == b"zset"
    assert redis_py.hgetall("huey.leases.shared") == {lease.id.encode(): b"1:one\x00"}
    assert redis_storage.lease_count() == 1
    # The redis-py storage releases the glide lease, and glide takes it again.
    assert redis_storage.extend_lease(lease.id, 0) is True
    again = _leased(glide)
    assert (again.data, again.deliveries) == (b"one\x00", 2)
    assert redis_storage.ack(lease.id) is False
    assert redis_storage.ack(again.id) is True
    assert glide.lease_count() == 0

    redis_storage.add_dead_letter("k", b"letter")
    assert glide.dead_letter_items() == {"k": b"letter"}
    glide.flush_dead_letters()
    assert redis_py.exists("huey.dead.shared") == 0


@pytest.mark.timeout(60)
def test_blocking_lease_sleeps_in_blmove_and_wakes_on_enqueue(storages: Any, redis_py: Any) -> None:
    consumer = storages("wake", read_timeout=10)
    producer = storages("wake")
    waiting = LeaseInThread(consumer)
    wait_for(
        lambda: any(entry["cmd"] == "blmove" for entry in redis_py.client_list()),
        timeout=10,
        what="the lease to block in BLMOVE",
    )
    time.sleep(0.3)
    lease, waited, after_enqueue = waiting.woken_by(producer, b"wake up")
    assert after_enqueue < 1.0
    assert lease is not None and lease.data == b"wake up"
    assert waited >= 0.3


@pytest.fixture
def port_without_blmove() -> Iterator[int]:
    """A private server on which BLMOVE does not exist, as before Redis 6.2."""
    server = RedisServer('rename-command BLMOVE ""').start()
    yield server.port
    server.close()


@pytest.mark.timeout(60)
def test_without_blmove_a_blocking_lease_polls(
    storages: Any, port_without_blmove: int, glide_server: RedisServer
) -> None:
    consumer = storages("old", read_timeout=10, port=port_without_blmove)
    producer = storages("old", port=port_without_blmove)
    waiting = LeaseInThread(consumer)
    time.sleep(0.5)
    lease, _, after_enqueue = waiting.woken_by(producer, b"polled")
    assert after_enqueue < 1.0
    assert lease is not None and lease.data == b"polled"
    assert consumer._has_blmove is False
