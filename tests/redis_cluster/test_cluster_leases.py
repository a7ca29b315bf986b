"""Leases and dead letters of the Redis Cluster storages on a real three-master cluster: the
lease keys carry the queue's hash tag (one slot, one master, so the Lua scripts run there) and a
blocking lease sleeps in ``BLMOVE`` on that master. The lease contract itself,
exclusive leases across threads included, is in ``test_cluster_conformance.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from cluster_support import queue_keys
from lease_waits import LeaseInThread
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis_servers import RedisClusterHandle

from huey.backends.redis._cluster import (
    PriorityRedisClusterExpireStorage,
    PriorityRedisClusterStorage,
    RedisClusterExpireStorage,
    RedisClusterStorage,
)

CLUSTER_STORAGES = [
    RedisClusterStorage,
    PriorityRedisClusterStorage,
    RedisClusterExpireStorage,
    PriorityRedisClusterExpireStorage,
]


def _ids(cls: type[Any]) -> str:
    return str(cls.__name__)


@pytest.mark.parametrize("cls", CLUSTER_STORAGES, ids=_ids)
def test_lease_keys_are_hash_tagged_into_the_queue_slot(
    cls: type[Any],
    redis_cluster: RedisClusterHandle,
    cluster_client: RedisCluster,
    wipe_queue: Callable[[str], None],
) -> None:
    name = f"cl_leases_{cls.__name__}"
    wipe_queue(name)
    storage = cls(name, blocking=False, startup_nodes=redis_cluster.startup_nodes)
    storage.enqueue(b"payload")
    lease = storage.lease(60)
    assert lease is not None and lease.data == b"payload"
    storage.add_dead_letter("k", b"letter")

    leases, deadlines, dead = (
        f"huey.leases.{{{name}}}",
        f"huey.lease_deadlines.{{{name}}}",
        f"huey.dead.{{{name}}}",
    )
    assert (storage.keys.leases, storage.keys.lease_deadlines, storage.keys.dead_letters) == (
        leases,
        deadlines,
        dead,
    )
    slot = storage.hash_slot()
    assert {key_slot(key.encode()) for key in (leases, deadlines, dead)} == {slot}
    # All on the one master that owns the queue's slot.
    found = queue_keys(redis_cluster, name)
    assert len(found) == 1
    [(port, keys)] = found.items()
    assert {leases.encode(), deadlines.encode(), dead.encode()} <= set(keys)
    with redis.Redis(port=port) as node:
        assert node.type(leases) == b"hash"
        assert node.type(deadlines) == b"zset"
        assert node.type(dead) == b"hash"
        assert node.hget(leases, lease.id) == b"1:payload"

    assert storage.extend_lease(lease.id, 0) is True
    again = storage.lease(60)
    assert again is not None and again.deliveries == 2
    assert storage.ack(again.id) is True
    storage.flush_all()
    assert queue_keys(redis_cluster, name) == {}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cls", [RedisClusterStorage, PriorityRedisClusterStorage], ids=_ids)
def test_blocking_lease_wakes_promptly_on_enqueue(
    cls: type[Any], redis_cluster: RedisClusterHandle, wipe_queue: Callable[[str], None]
) -> None:
    name = f"cl_wake_{cls.__name__}"
    wipe_queue(name)
    nodes = redis_cluster.startup_nodes
    consumer = cls(name, read_timeout=10, startup_nodes=nodes)
    producer = cls(name, client_name="producer", startup_nodes=nodes)
    waiting = LeaseInThread(consumer)
    time.sleep(0.5)
    lease, waited, after_enqueue = waiting.woken_by(producer, b"wake up")
    assert after_enqueue < 1.0
    assert lease is not None and lease.data == b"wake up"
    assert waited >= 0.5
    if cls.queue_kind == "list":
        assert consumer._has_blmove  # It slept in BLMOVE, routed to the queue's master.
