"""Leases and dead letters of the Redis storages, against real servers.

The generic lease contract is in the conformance suite (``tests/test_conformance.py``); here
is what is particular to Redis: where the lease data lives and its types, that it survives a
server restart, how a blocking lease waits (``BLMOVE``, or polling), and that concurrent
clients never hold one message at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from lease_waits import LeaseInThread
from polling import wait_for
from redis_servers import REDIS_SERVER, RedisServer

from huey.backends.redis import (
    HashTaggedKeyLayout,
    KeyLayout,
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
    _leases,
)
from huey.storage import Lease

STORAGES = [RedisStorage, PriorityRedisStorage, RedisExpireStorage, PriorityRedisExpireStorage]
# One list queue and one sorted-set queue: the two ways the LEASE script takes a message.
QUEUE_KINDS = [RedisStorage, PriorityRedisStorage]


def _ids(cls: type[RedisStorage]) -> str:
    return cls.__name__


def _server_ms(client: redis.Redis) -> float:
    """The server's clock in milliseconds, to the microsecond (not rounded down, as the
    scripts' ``now`` is: so a deadline can be checked against the full timeout)."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) / 1000


def _leased(storage: RedisStorage, visibility_timeout: float = 60) -> Lease:
    lease = storage.lease(visibility_timeout)
    assert lease is not None
    return lease


# -- key layout ------------------------------------------------------------------------------
def test_key_layouts_name_the_lease_keys() -> None:
    plain, tagged = KeyLayout("app"), HashTaggedKeyLayout("app")
    assert (plain.leases, plain.lease_deadlines, plain.dead_letters) == (
        "huey.leases.app",
        "huey.lease_deadlines.app",
        "huey.dead.app",
    )
    assert (tagged.leases, tagged.lease_deadlines, tagged.dead_letters) == (
        "huey.leases.{app}",
        "huey.lease_deadlines.{app}",
        "huey.dead.{app}",
    )


@pytest.mark.parametrize("cls", STORAGES, ids=_ids)
def test_lease_keys_their_types_and_values(
    cls: type[RedisStorage], connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    storage = cls("lease_keys", blocking=False, **connection)
    storage.enqueue(b"payload:\x00\xff")
    storage.put_data("result", b"value")
    queue_only = set(redis_client.keys("*"))
    # A storage that does not lease adds no key huey 3.5.4 does not know.
    assert b"huey.leases.lease_keys" not in queue_only
    assert storage.lease_count() == 0 and storage.dead_letter_count() == 0
    assert set(redis_client.keys("*")) == queue_only

    before = _server_ms(redis_client)
    lease = _leased(storage, 30)
    after = _server_ms(redis_client)
    assert redis_client.type("huey.leases.lease_keys") == b"hash"
    assert redis_client.type("huey.lease_deadlines.lease_keys") == b"zset"
    assert redis_client.hgetall("huey.leases.lease_keys") == {
        lease.id.encode(): b"1:payload:\x00\xff"
    }
    deadline = redis_client.zscore("huey.lease_deadlines.lease_keys", lease.id)
    # Rounded up to the next millisecond: never earlier than 30 s after the lease was taken.
    assert deadline is not None and before + 30_000 < deadline <= after + 30_001

    before = _server_ms(redis_client)
    assert storage.extend_lease(lease.id, 40)
    after = _server_ms(redis_client)
    deadline = redis_client.zscore("huey.lease_deadlines.lease_keys", lease.id)
    assert deadline is not None and before + 40_000 < deadline <= after + 40_001
    assert redis_client.exists(storage.keys.queue) == 0  # Taken from the queue.

    # Released at once: taken again, as delivery 2, under a new id.
    assert storage.extend_lease(lease.id, 0)
    again = _leased(storage)
    assert redis_client.hgetall("huey.leases.lease_keys") == {
        again.id.encode(): b"2:payload:\x00\xff"
    }

    storage.add_dead_letter("task-1", b"record")
    assert redis_client.type("huey.dead.lease_keys") == b"hash"
    assert redis_client.hgetall("huey.dead.lease_keys") == {b"task-1": b"record"}

    storage.flush_queue()
    assert not redis_client.exists("huey.leases.lease_keys", "huey.lease_deadlines.lease_keys")
    assert redis_client.exists("huey.dead.lease_keys") == 1  # Not part of the queue.
    storage.flush_all()
    assert redis_client.exists("huey.dead.lease_keys") == 0


def test_priority_lease_strips_the_stamp_and_keeps_the_order(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    storage = PriorityRedisStorage("stamped", blocking=False, **connection)
    storage.enqueue(b"low", 1)
    storage.enqueue(b"high", 5)
    lease = _leased(storage)
    assert lease.data == b"high"
    assert redis_client.hget("huey.leases.stamped", lease.id) == b"1:high"
    assert storage.enqueued_items() == [b"low"]


def test_visibility_timeouts_are_rounded_up_to_whole_milliseconds() -> None:
    assert [_leases.milliseconds(s) for s in (0.0004, 0.0011, 0.1, 0.3, 3, 2.5e-3)] == [
        1,
        2,
        100,
        300,
        3000,
        3,
    ]
    assert _leases.milliseconds(0) == _leases.milliseconds(-1) == 0  # 0: shown again at once.


@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_a_sub_millisecond_lease_is_not_lapsed_when_taken(
    cls: type[RedisStorage], connection: dict[str, Any]
) -> None:
    storage = cls("tiny", blocking=False, **connection)
    storage.enqueue(b"m")
    before = _server_ms(storage.conn)
    lease = _leased(storage, 0.0004)
    deadline = storage.conn.zscore(storage.keys.lease_deadlines, lease.id)
    assert deadline is not None and deadline > before + 0.4


# -- persistence -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_a_lease_survives_a_server_restart(
    cls: type[RedisStorage], own_server: RedisServer
) -> None:
    storage = cls("durable", blocking=False, port=own_server.port)
    storage.enqueue(b"survivor")
    storage.enqueue(b"next")
    first = _leased(storage, 3)
    assert (first.data, first.deliveries) == (b"survivor", 1)
    leased_at = time.monotonic()

    # Killed, not shut down: only the append-only file (fsync'd on every write) keeps it.
    own_server.stop(kill=True)
    own_server.start()

    assert storage.lease_count() == 1
    if time.monotonic() - leased_at < 2.5:  # Not lapsed yet: the queue comes next.
        nxt = _leased(storage)
        assert nxt.data == b"next"
        assert storage.ack(nxt.id)
    again = wait_for(lambda: storage.lease(60), timeout=20, what="the lapsed lease")
    assert (again.data, again.deliveries) == (b"survivor", 2)
    assert again.id != first.id
    assert storage.ack(first.id) is False
    assert storage.ack(again.id) is True
    assert storage.lease_count() == 0


# -- blocking --------------------------------------------------------------------------------
def _blocked_commands(client: redis.Redis) -> list[str]:
    return [entry["cmd"] for entry in client.client_list() if "b" in entry.get("flags", "")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cls", STORAGES, ids=_ids)
def test_blocking_lease_wakes_promptly_on_enqueue(
    cls: type[RedisStorage], connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    consumer = cls("wake", read_timeout=10, **connection)
    producer = cls("wake", client_name="producer", **connection)  # A client of its own.
    waiting = LeaseInThread(consumer)
    if cls.queue_kind == "list":
        # It sleeps in BLMOVE on the server, not in a polling loop.
        wait_for(lambda: "blmove" in _blocked_commands(redis_client), timeout=10, what="BLMOVE")
    time.sleep(0.5)
    lease, waited, after_enqueue = waiting.woken_by(producer, b"wake up")
    assert lease is not None and (lease.data, lease.deliveries) == (b"wake up", 1)
    assert waited >= 0.5
    # BLMOVE returns at once; a priority queue is polled at most 100 ms apart.
    assert after_enqueue < 1.0
    assert producer.queue_size() == 0 and producer.lease_count() == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_blocking_lease_gives_up_after_read_timeout(
    cls: type[RedisStorage], connection: dict[str, Any]
) -> None:
    storage = cls("idle", read_timeout=0.5, **connection)
    started = time.monotonic()
    assert storage.lease(60) is None
    assert 0.45 <= time.monotonic() - started < 3


@pytest.mark.timeout(60)
def test_blocking_wait_leaves_the_queue_order_alone(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    consumer = RedisStorage("order", read_timeout=10, **connection)
    waiting = LeaseInThread(consumer)
    wait_for(lambda: "blmove" in _blocked_commands(redis_client), timeout=10, what="BLMOVE")
    # Three messages at once, as three enqueues: the woken BLMOVE finds them all and must not
    # rotate the list (BRPOPLPUSH onto itself would put the oldest last).
    redis_client.lpush(consumer.keys.queue, b"a", b"b", b"c")
    lease, _ = waiting.join()
    assert lease is not None and lease.data == b"a"
    assert [_leased(consumer).data for _ in range(2)] == [b"b", b"c"]


@pytest.fixture
def server_without_blmove(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private server on which BLMOVE does not exist, as before Redis 6.2."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer('rename-command BLMOVE ""').start()
    yield server
    server.close()


@pytest.mark.timeout(60)
def test_without_blmove_a_blocking_lease_polls(
    server_without_blmove: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = server_without_blmove.port
    consumer = RedisStorage("old_server", read_timeout=10, port=port)
    producer = RedisStorage("old_server", client_name="producer", port=port)
    with caplog.at_level(logging.WARNING, logger="huey.backends.redis"):
        started = time.monotonic()
        assert RedisStorage("old_server", read_timeout=0.3, port=port).lease(60) is None
        assert 0.25 <= time.monotonic() - started < 3
        waiting = LeaseInThread(consumer)
        time.sleep(0.5)
        lease, _, after_enqueue = waiting.woken_by(producer, b"polled")
        assert after_enqueue < 1.0
    assert lease is not None and lease.data == b"polled"
    assert not consumer._has_blmove
    assert "no BLMOVE" in caplog.text


# -- concurrency ---------------------------------------------------------------------------------
def _crowd(
    cls: type[RedisStorage], connection: dict[str, Any], consume: Callable[[RedisStorage], None]
) -> None:
    """Run ``consume`` in 8 threads, each with a client (and pool) of its own; re-raise what
    any of them raised."""
    failures: list[BaseException] = []

    def run(storage: RedisStorage) -> None:
        try:
            consume(storage)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(
            target=run,
            args=(cls("crowd", read_timeout=0.2, client_name=f"consumer-{i}", **connection),),
            daemon=True,
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_concurrent_clients_never_lease_one_message_twice(
    cls: type[RedisStorage], connection: dict[str, Any]
) -> None:
    messages = [f"message-{index:04d}".encode() for index in range(1000)]
    producer = cls("crowd", **connection)
    for message in messages:
        producer.enqueue(message)
    taken: list[bytes] = []
    guard = threading.Lock()

    def consume(storage: RedisStorage) -> None:
        while True:
            lease = storage.lease(60)
            if lease is None:
                if storage.queue_size() == 0:
                    return
                continue
            assert lease.deliveries == 1
            assert storage.ack(lease.id) is True
            with guard:
                taken.append(lease.data)

    _crowd(cls, connection, consume)
    assert len(taken) == len(messages)
    assert sorted(taken) == messages, "a message was leased twice, or lost"
    assert producer.lease_count() == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_concurrent_clients_never_take_one_lapsed_lease_twice(
    cls: type[RedisStorage], connection: dict[str, Any]
) -> None:
    """Every message is released twice (lease extended to 0) and then acknowledged: each of
    its three deliveries must be seen exactly once, whichever client took it."""
    messages = [f"message-{index:04d}".encode() for index in range(1000)]
    producer = cls("crowd", **connection)
    for message in messages:
        producer.enqueue(message)
    seen: Counter[tuple[bytes, int]] = Counter()
    guard = threading.Lock()

    def consume(storage: RedisStorage) -> None:
        while True:
            lease = storage.lease(60)
            if lease is None:
                if storage.queue_size() == 0 and storage.lease_count() == 0:
                    return
                continue
            with guard:
                seen[lease.data, lease.deliveries] += 1
            if lease.deliveries < 3:
                assert storage.extend_lease(lease.id, 0) is True
            else:
                assert storage.ack(lease.id) is True

    _crowd(cls, connection, consume)
    expected = {(message, deliveries) for message in messages for deliveries in (1, 2, 3)}
    assert set(seen) == expected
    twice = {key: count for key, count in seen.items() if count != 1}
    assert not twice, f"deliveries taken more than once: {sorted(twice)[:5]}"
    assert producer.lease_count() == 0


@pytest.mark.parametrize("cls", QUEUE_KINDS, ids=_ids)
def test_a_retried_lease_takes_no_second_message(
    cls: type[RedisStorage], connection: dict[str, Any]
) -> None:
    """A client that lost LEASE's reply sends it again with the same id: it gets the same
    message back, and the next message stays queued (it was once overwritten and lost)."""
    storage = cls("retried", blocking=False, **connection)
    storage.enqueue(b"first")
    storage.enqueue(b"second")
    keys = [storage.keys.queue, storage.keys.leases, storage.keys.lease_deadlines]
    args = _leases.lease_args("same-id", 60, storage.queue_kind, False)
    replies = [_leases.lease_of(storage._lease(keys=keys, args=args), "same-id")]
    before_retry = _server_ms(storage.conn)
    replies.append(_leases.lease_of(storage._lease(keys=keys, args=args), "same-id"))
    assert replies[0] == replies[1] == Lease("same-id", b"first", 1)
    # Its timeout starts again with the reply the client receives.
    deadline = storage.conn.zscore(storage.keys.lease_deadlines, "same-id")
    assert deadline is not None and deadline > before_retry + 60_000
    assert storage.queue_size() == 1 and storage.lease_count() == 1
    assert _leased(storage).data == b"second"
