"""The Redis Cluster storages' own behaviour on a real three-master cluster: where each queue's
keys live (one hash slot per queue, queues spread over the masters), blocking reads on the
cluster, and how the client is given, made, shared and checked.

The storage contract itself is in ``test_cluster_conformance.py``; a real consumer in
``test_cluster_consumer.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import redis
from cluster_support import queue_keys
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis_servers import RedisClusterHandle, free_port

from huey.api import Huey
from huey.backends.redis._cluster import (
    ClusterKeyLayout,
    PriorityRedisClusterExpireHuey,
    PriorityRedisClusterExpireStorage,
    PriorityRedisClusterHuey,
    PriorityRedisClusterStorage,
    RedisClusterExpireHuey,
    RedisClusterExpireStorage,
    RedisClusterHuey,
    RedisClusterStorage,
    startup_node,
)
from huey.backends.redis._connection import BLOCKING_MARGIN, DEFAULT_SOCKET_TIMEOUT
from huey.constants import EmptyData

HUEYS: dict[type[Huey], type[Any]] = {
    RedisClusterHuey: RedisClusterStorage,
    PriorityRedisClusterHuey: PriorityRedisClusterStorage,
    RedisClusterExpireHuey: RedisClusterExpireStorage,
    PriorityRedisClusterExpireHuey: PriorityRedisClusterExpireStorage,
}


@pytest.fixture
def nodes(redis_cluster: RedisClusterHandle) -> list[tuple[str, int]]:
    return redis_cluster.startup_nodes


def _names_on_different_masters(client: RedisCluster, prefix: str) -> tuple[str, str]:
    """Two queue names whose hash tags fall on different masters."""
    first = f"{prefix}0"
    first_node = client.get_node_from_key(f"{{{first}}}").name
    for index in range(1, 100):
        name = f"{prefix}{index}"
        if client.get_node_from_key(f"{{{name}}}").name != first_node:
            return first, name
    raise AssertionError("no two names on different masters among 100")


# -- where the keys live -------------------------------------------------------------------------
def test_each_queue_in_one_slot_and_queues_on_different_masters(
    redis_cluster: RedisClusterHandle,
    cluster_client: RedisCluster,
    nodes: list[tuple[str, int]],
    wipe_queue: Callable[[str], None],
) -> None:
    names = _names_on_different_masters(cluster_client, "slots_")
    slots, ports = [], []
    for name in names:
        wipe_queue(name)
        # Every kind of key one queue has: both result layouts, notifications, counters.
        plain = RedisClusterStorage(name, startup_nodes=nodes, notify_result=True)
        expiring = RedisClusterExpireStorage(name, startup_nodes=nodes, notify_result=True)
        for storage in (plain, expiring):
            storage.enqueue(b"message")
            storage.add_to_schedule(b"later", dt.datetime(2030, 1, 1))
            storage.put_data("result", b"value", is_result=True)
            storage.put_data("lock", b"1")
            storage.incr("counter")

        found = queue_keys(redis_cluster, name)
        assert len(found) == 1, f"{name}'s keys are on several masters: {found}"
        ((port, keys),) = found.items()
        tag = "{" + name + "}"
        assert keys == sorted(
            key.encode()
            for key in [
                f"huey.redis.{tag}",
                f"huey.schedule.{tag}",
                f"huey.results.{tag}",
                f"huey.counters.{tag}",
                f"huey.notify.{tag}.result",
                f"huey.r.{tag}.result",
                f"huey.r.{tag}.lock",
                f"huey.c.{tag}.counter",
            ]
        )
        # The server's own view: one slot for them all, the one the storage reports.
        with redis.Redis(port=port) as node:
            key_slots = {node.cluster("KEYSLOT", key) for key in keys}
        assert key_slots == {plain.hash_slot()} == {expiring.hash_slot()}
        assert cluster_client.get_node_from_key(plain.keys.queue).port == port
        slots.append(plain.hash_slot())
        ports.append(port)

        # The queue is usable as a whole: scripts with several KEYS, scans, reads.
        assert expiring.result_items() == {"result": b"value", "lock": b"1"}
        assert plain.pop_data("result") == b"value"
        assert expiring.pop_data("result") == b"value"
        assert plain.dequeue() == b"message"

    assert slots[0] != slots[1]
    assert ports[0] != ports[1], "the two queues should be served by different masters"


def test_key_layout_and_hash_tag_rules(nodes: list[tuple[str, int]]) -> None:
    storage = RedisClusterStorage("my-app.emails", startup_nodes=nodes)
    assert isinstance(storage.keys, ClusterKeyLayout)
    assert storage.keys.queue == "huey.redis.{myappemails}"  # Cleaned as RedisStorage does.
    assert storage.keys.notify("x") == "huey.notify.{myappemails}.x"
    raw = RedisClusterStorage("my-app", startup_nodes=nodes, clean_name=False)
    assert raw.keys.results == "huey.results.{my-app}"
    # An empty hash tag would hash every key name on its own: refused.
    for name, clean in [("", True), ("--", True), ("}x", False)]:
        with pytest.raises(ValueError, match="hash tag"):
            RedisClusterStorage(name, startup_nodes=nodes, clean_name=clean)


# -- blocking reads on the cluster ---------------------------------------------------------------
@pytest.mark.parametrize("storage_class", [RedisClusterStorage, PriorityRedisClusterStorage])
def test_blocking_dequeue_waits_then_wakes_on_an_enqueue(
    storage_class: type[RedisClusterStorage],
    nodes: list[tuple[str, int]],
    wipe_queue: Callable[[str], None],
) -> None:
    name = f"blocking_{storage_class.__name__}"
    wipe_queue(name)
    reader = storage_class(name, startup_nodes=nodes, read_timeout=1.5)
    assert reader.supports_blocking_dequeue

    start = time.monotonic()
    assert reader.dequeue() is None
    waited = time.monotonic() - start
    assert 1.2 <= waited < 1.5 + 2, f"an empty blocking dequeue returned after {waited:.2f}s"

    # Another client (with its own connections) enqueues while the reader sleeps in the pop.
    writer = storage_class(name, url=f"redis://{nodes[1][0]}:{nodes[1][1]}")
    assert writer.cluster is not reader.cluster
    got: list[tuple[bytes | None, float]] = []
    waiting = storage_class(name, startup_nodes=nodes, read_timeout=10)

    def read() -> None:
        got.append((waiting.dequeue(), time.monotonic()))

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.3)
    sent = time.monotonic()
    writer.enqueue(b"wake up")
    thread.join(15)
    assert not thread.is_alive()
    ((message, received),) = got
    assert message == b"wake up"
    assert received - sent < 2, "the blocked pop did not return as soon as a message came"


def test_blocking_dequeue_is_shared_between_readers(
    nodes: list[tuple[str, int]], wipe_queue: Callable[[str], None]
) -> None:
    wipe_queue("blocking_many")
    storage = RedisClusterStorage("blocking_many", startup_nodes=nodes, read_timeout=5)
    results: list[bytes | None] = []
    lock = threading.Lock()

    def read() -> None:
        value = storage.dequeue()
        with lock:
            results.append(value)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    for index in range(4):
        storage.enqueue(f"m{index}".encode())
    for thread in threads:
        thread.join(15)
    assert sorted(value for value in results if value is not None) == [
        b"m0",
        b"m1",
        b"m2",
        b"m3",
    ]


def test_blocking_result_read_is_woken_by_the_write(
    nodes: list[tuple[str, int]], wipe_queue: Callable[[str], None]
) -> None:
    wipe_queue("notify_q")
    reader = RedisClusterExpireStorage("notify_q", startup_nodes=nodes, notify_result=True)
    writer = RedisClusterExpireStorage(
        "notify_q", startup_nodes=list(reversed(nodes)), notify_result=True
    )
    timer = threading.Timer(0.3, writer.put_data, ("task-id", b"done"), {"is_result": True})
    start = time.monotonic()
    timer.start()
    # max_delay is the polling fallback: a wake-up well before it comes from BLPOP.
    assert reader.wait_result("task-id", timeout=10, max_delay=5)
    assert time.monotonic() - start < 3
    timer.join()
    assert reader.pop_data("task-id") == b"done"
    assert not reader.conn.exists(reader.keys.notify("task-id"))
    start = time.monotonic()
    assert not reader.wait_result("missing", timeout=0.5)
    assert 0.4 <= time.monotonic() - start < 3


# -- the client ------------------------------------------------------------------------------------
def test_huey_classes(nodes: list[tuple[str, int]]) -> None:
    for huey_class, storage_class in HUEYS.items():
        huey = huey_class("classes", startup_nodes=nodes)
        assert type(huey.storage) is storage_class
        assert huey.storage.supports_priority is storage_class.__name__.startswith("Priority")
        assert huey.storage.supports_blocking_dequeue is True
    assert RedisClusterExpireStorage("q", 30, startup_nodes=nodes).expire_time == 30
    assert RedisClusterStorage("q", blocking=False, startup_nodes=nodes).dequeue() is None


def test_ways_to_name_the_cluster(redis_cluster: RedisClusterHandle, wipe_queue: Any) -> None:
    wipe_queue("ways")
    host, port = redis_cluster.startup_nodes[2]
    storages = [
        RedisClusterStorage("ways", startup_nodes=redis_cluster.startup_nodes),
        RedisClusterStorage("ways", startup_nodes=[ClusterNode(host, port)]),
        RedisClusterStorage("ways", startup_nodes=[f"{host}:{port}"]),
        RedisClusterStorage("ways", startup_nodes=f"{host}:{port}"),
        RedisClusterStorage("ways", startup_nodes=[{"host": host, "port": port}]),
        RedisClusterStorage("ways", url=f"redis://{host}:{port}"),
        RedisClusterStorage("ways", host=host, port=port),
    ]
    for index, storage in enumerate(storages):
        storage.put_data(f"k{index}", b"v")
    for storage in storages:
        assert len(storage.result_items()) == len(storages)
        assert {node.port for node in storage.cluster.get_primaries()} == set(redis_cluster.ports)
    assert startup_node(("h", "7000")) == ("h", 7000)
    assert startup_node("[::1]:7000") == ("::1", 7000)
    with pytest.raises(ValueError, match="host:port"):
        startup_node("7000")


def test_a_given_client_is_used_as_it_is(
    redis_cluster: RedisClusterHandle, wipe_queue: Any
) -> None:
    wipe_queue("given")
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    one = RedisClusterHuey("given", cluster=client)
    two = PriorityRedisClusterHuey("given_other", cluster=client)
    storages = [cast(RedisClusterStorage, huey.storage) for huey in (one, two)]
    assert storages[0].cluster is client is storages[1].cluster
    one.storage.enqueue(b"x")
    assert client.llen("huey.redis.{given}") == 1
    assert one.storage.close() is True
    assert client.ping()  # Closing a storage leaves the caller's client open.
    extras: list[dict[str, Any]] = [{"url": "redis://x"}, {"password": "p"}, {"client_name": "c"}]
    for extra in extras:
        with pytest.raises(TypeError, match="cluster= is used as it is"):
            RedisClusterStorage("q", cluster=client, **extra)
    with pytest.raises(TypeError, match="RedisCluster"):
        RedisClusterStorage("q", cluster=redis.Redis(port=1))
    decoding = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0], decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisClusterStorage("q", cluster=decoding)
    decoding.close()
    client.close()


def test_argument_checks(nodes: list[tuple[str, int]]) -> None:
    with pytest.raises(TypeError, match="connection_pool"):
        RedisClusterStorage("q", connection_pool=redis.ConnectionPool(port=1))
    with pytest.raises(TypeError, match="unexpected keyword arguments: bogus"):
        RedisClusterStorage("q", startup_nodes=nodes, bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword arguments: db"):
        RedisClusterStorage("q", startup_nodes=nodes, db=1)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisClusterStorage("q", startup_nodes=nodes, decode_responses=True)
    # RedisCluster's own arguments and per-node connection arguments pass.
    RedisClusterStorage("q", startup_nodes=nodes, require_full_coverage=False, password=None)


def test_same_arguments_share_one_client_made_on_first_use(nodes: list[tuple[str, int]]) -> None:
    one = RedisClusterStorage("share_a", startup_nodes=nodes, client_name="share-test")
    two = PriorityRedisClusterExpireStorage(
        "share_b", startup_nodes=nodes, client_name="share-test"
    )
    other = RedisClusterStorage("share_a", startup_nodes=nodes, client_name="other")
    assert one.cluster_client is two.cluster_client
    assert other.cluster_client is not one.cluster_client
    assert one.cluster is two.cluster
    one.queue_size()
    names = {
        entry["name"]
        for node in one.cluster.get_primaries()
        for entry in node.redis_connection.client_list()
    }
    assert "share-test" in names
    assert one.close() is True
    assert two.queue_size() == 0  # The shared client stays open for the others.


def test_outage_safe_defaults_reach_every_node(nodes: list[tuple[str, int]]) -> None:
    storage = RedisClusterStorage("defaults", startup_nodes=nodes)
    options = storage.cluster.nodes_manager.connection_kwargs
    assert options["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert options["socket_connect_timeout"] > 0
    slow = RedisClusterStorage("defaults", startup_nodes=nodes, read_timeout=10)
    assert slow.cluster.nodes_manager.connection_kwargs["socket_timeout"] == 10 + BLOCKING_MARGIN
    for node in slow.cluster.get_primaries():
        pool = node.redis_connection.connection_pool
        assert pool.connection_kwargs["socket_timeout"] == 10 + BLOCKING_MARGIN


def test_building_never_connects_and_a_later_use_does(
    redis_cluster: RedisClusterHandle,
) -> None:
    """An application imports while the cluster is down; each use tries again."""
    port = free_port()
    huey = RedisClusterHuey("down", port=port, socket_connect_timeout=0.5)
    assert "down" in repr(huey.storage) and str(port) in repr(huey.storage)
    with pytest.raises((RedisClusterException, redis.exceptions.ConnectionError)):
        huey.storage.enqueue(b"x")
    with pytest.raises((RedisClusterException, redis.exceptions.ConnectionError)):
        huey.storage.queue_size()
    # The default is localhost:6379, as RedisStorage's: never contacted here.
    assert "localhost:6379" in repr(RedisClusterStorage())


def test_expire_storage_results_expire_on_the_cluster(
    nodes: list[tuple[str, int]], wipe_queue: Callable[[str], None]
) -> None:
    wipe_queue("expiring")
    storage = RedisClusterExpireStorage("expiring", expire_time=1, startup_nodes=nodes)
    storage.put_data("r", b"v", is_result=True)
    storage.put_data("kept", b"v")
    assert 0 < storage.conn.ttl(storage.keys.data("r")) <= 1
    assert storage.conn.ttl(storage.keys.data("kept")) == -1
    deadline = time.monotonic() + 5
    while storage.peek_data("r") is not EmptyData:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert storage.result_items() == {"kept": b"v"}
