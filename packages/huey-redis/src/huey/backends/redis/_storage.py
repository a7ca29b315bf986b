"""The Redis storages: ``RedisStorage``, ``PriorityRedisStorage`` and their expire variants.

Data layout and values are huey 3.5.4's (see ``_keys``), so either implementation drains a
queue the other filled, reads the other's results and honours its revocations and locks.

Round trips are kept low: a destructive read, a schedule read, a result write with its
notification and an expiring counter are each one Lua script (one ``EVALSHA``); everything
else is one command. A blocking result read with ``notify_result`` sleeps in ``BLPOP`` on the
result's notification list, so it returns as soon as the result is written.

Leases (``supports_leases``, for at-least-once delivery): ``lease``, ``ack`` and
``extend_lease`` are one Lua script each, timed by the server's clock. A leased message waits
in a hash (``huey.leases.<name>``) with its deadline in a sorted set
(``huey.lease_deadlines.<name>``) until it is acknowledged, or its lease lapses and ``lease``
hands it out again before the queue. A blocking ``lease`` on a list queue sleeps in
``BLMOVE queue queue RIGHT RIGHT`` (Redis 6.2+), which wakes when the queue gets a message
and moves its last element onto itself: nothing changes, and nothing is lost if the client
dies meanwhile. A priority queue (a sorted set has no such non-destructive blocking wait),
and a server without ``BLMOVE``, are polled instead: 5 ms growing to 100 ms apart. Only a new
message ends the wait; a lease that lapses meanwhile goes to the next call (``_leases``). Dead
letters are one hash (``huey.dead.<name>``).

Keys of the key/value store and of counters may be ``str`` or UTF-8 ``bytes`` (the same
entry). ``put_if_empty(..., ttl=...)`` works on every server: see ``_scripts`` for how a field
of the results hash expires where the server has no hash-field TTL. ``RedisExpireStorage``
reads non-destructively (``destructive_reads`` off): a result can be read again until it
expires, as in huey 3.5.4.

Errors of redis-py (``redis.exceptions.ConnectionError``, ``TimeoutError``) propagate: the
consumer logs them and retries with backoff, and a producer sees them at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import redis
from huey.backends.redis import _leases, _scripts
from huey.backends.redis._connection import (
    BLOCKING_MARGIN,
    ConflictingArguments,
    ScriptCommand,
    ThreadConnections,
    check_arguments,
    shared_pool,
    socket_timeout_of,
    with_defaults,
)
from huey.backends.redis._keys import KeyLayout, clean_name
from huey.backends.redis._replies import as_bytes, revocation_fields
from huey.constants import EmptyData
from huey.storage import BaseStorage, Key, Lease, check_ttl, key_text
from huey.utils import to_timestamp

logger = logging.getLogger("huey.backends.redis")

# The shortest blocking wait sent to Redis: a timeout of 0 would mean "wait forever".
_MIN_BLOCK = 0.01
# Keys read or deleted per command when an expire storage walks its keys, and messages per
# command of an enqueue_many.
_BATCH = 500

T = TypeVar("T")


class RedisStorage(BaseStorage):
    """A queue in Redis: a list for the queue, a hash for results and data, a sorted set for
    the schedule (huey 3.5.4's layout).

    ``blocking`` makes an idle ``dequeue`` wait up to ``read_timeout`` seconds in ``BRPOP``.
    ``connection_pool``, ``url`` or any ``redis.Redis`` argument (``host``, ``port``, ``db``,
    ``password``, ``socket_timeout``...) say where Redis is; ``client_name`` names the
    connections. ``notify_result`` wakes blocked result readers through a list that expires
    after ``notify_result_ttl`` seconds. ``clean_name`` (default on, as in huey) strips the
    queue name to ``[A-Za-z0-9_]`` in key names.

    Leases (``lease``/``ack``/``extend_lease``, for at-least-once delivery) and dead letters
    are supported: see the module docstring for their keys and how a blocking lease waits.
    """

    supports_priority: ClassVar[bool] = False
    supports_leases: ClassVar[bool] = True
    #: How the ``LEASE`` script takes from the queue: ``list`` (RPOP) or ``zset`` (ZPOPMIN).
    queue_kind: ClassVar[str] = "list"
    #: Makes every key name; a cluster variant swaps in ``HashTaggedKeyLayout``.
    key_layout_class: ClassVar[type[KeyLayout]] = KeyLayout

    def __init__(
        self,
        name: str = "huey",
        blocking: bool = True,
        read_timeout: float = 1,
        connection_pool: redis.ConnectionPool | None = None,
        url: str | None = None,
        client_name: str | None = None,
        notify_result: bool = False,
        notify_result_ttl: int = 86400,
        clean_name: bool = True,
        **connection_params: Any,
    ) -> None:
        super().__init__(name)
        storage = type(self).__name__
        socket_timeout = self._connect(
            connection_pool, url, client_name, read_timeout, connection_params
        )
        self.blocking = self.supports_blocking_dequeue = bool(blocking)
        self.read_timeout = read_timeout
        self.client_name = client_name
        self.notify_result = bool(notify_result)
        self.notify_result_ttl = int(notify_result_ttl)
        # As in huey 3.5.4, ``name`` is the queue name as the keys carry it.
        self.name = _clean(name) if clean_name else name
        self.keys = self.key_layout_class(self.name)

        # The longest a blocking command may wait: a socket timeout must not cut it short
        # (that would look like an empty queue and hide the misconfiguration).
        self._max_block = (
            None
            if socket_timeout is None
            else max(socket_timeout - BLOCKING_MARGIN, socket_timeout / 2, _MIN_BLOCK)
        )
        if self.blocking and self._max_block is not None and read_timeout > self._max_block:
            logger.warning(
                "%s %r: socket_timeout %.3gs is too close to read_timeout %.3gs; blocking "
                "reads wait %.3gs instead (give socket_timeout > read_timeout + %gs)",
                storage,
                name,
                socket_timeout,
                read_timeout,
                self._max_block,
                BLOCKING_MARGIN,
            )
        self._integer_timeouts = False  # Set once a Redis before 6.0 refuses a fraction.
        self._has_blmove = True  # Cleared once a server before 6.2 refuses BLMOVE.

        self._read_schedule = self._script(_scripts.READ_SCHEDULE)
        self._dequeue_checked = self._script(_scripts.DEQUEUE_WITH_REVOCATIONS)
        self._pop_field = self._script(_scripts.POP_FIELD)
        self._put_field_notify = self._script(_scripts.PUT_FIELD_NOTIFY)
        self._hash_command = self._script(_scripts.HASH_COMMAND)
        self._put_if_empty = self._script(_scripts.PUT_IF_EMPTY)
        self._lease = self._script(_scripts.LEASE)
        self._ack = self._script(_scripts.ACK)
        self._extend_lease = self._script(_scripts.EXTEND_LEASE)

    def _connect(
        self,
        connection_pool: redis.ConnectionPool | None,
        url: str | None,
        client_name: str | None,
        read_timeout: float,
        connection_params: dict[str, Any],
    ) -> float | None:
        """Set ``self.conn`` (and ``connection_pool``) from the connection arguments and return
        the connections' socket timeout (None: none). A seam: the cluster storages
        (``_cluster``) replace it to connect with a ``redis.cluster.RedisCluster`` instead."""
        storage = type(self).__name__
        for absent in [name for name in ("host", "port", "db") if name in connection_params]:
            if connection_params[absent] is None:  # Settings dicts spell "not given" as None.
                del connection_params[absent]
        if connection_pool is not None:
            given = sorted(connection_params) + ["url"] * bool(url)
            given += ["client_name"] * (client_name is not None)
            if given:
                raise ConflictingArguments(
                    f"{storage}(): connection_pool= is used as it is; configure "
                    f"{', '.join(given)} on the pool instead"
                )
            pool = connection_pool
        else:
            check_arguments(storage, connection_params, url)
            if client_name is not None:
                connection_params["client_name"] = client_name
            pool = shared_pool(url, with_defaults(connection_params, read_timeout))
        if pool.connection_kwargs.get("decode_responses"):
            raise ValueError(
                f"{storage}(): decode_responses must be off: messages and results are bytes"
            )
        self.conn = redis.Redis(connection_pool=pool)
        self.connection_pool = pool
        self._threads = ThreadConnections(pool)
        self._command = self._threads.execute
        return socket_timeout_of(pool)

    # The per-task commands (``_command``, and the scripts) take the shortest path to the
    # server: unparsed replies on a connection of the thread's own. Other calls use the client.
    _command: Callable[..., Any]

    def _script(self, source: str) -> Callable[..., Any]:
        return ScriptCommand(self._command, source)

    def __repr__(self) -> str:
        options = self.connection_pool.connection_kwargs
        if "path" in options:
            where = f"unix://{options['path']}?db={options.get('db', 0)}"
        else:
            host, port = options.get("host", "localhost"), options.get("port", 6379)
            where = f"{host}:{port}/{options.get('db', 0)}"
        return f"<{type(self).__name__} {self.name!r} on {where}>"

    def close(self) -> bool:
        """Give back this storage's client; the pool stays, other storages may share it."""
        self.conn.close()
        self._threads.close()
        return True

    # -- huey 3.5.4's key attributes ---------------------------------------------------------
    @property
    def queue_key(self) -> str:
        return self.keys.queue

    @property
    def schedule_key(self) -> str:
        return self.keys.schedule

    @property
    def result_key(self) -> Any:
        """The results hash (a function of the key on the expire storages, as in huey)."""
        return self.keys.results

    @property
    def counter_key(self) -> Any:
        return self.keys.counters

    @property
    def notify_prefix(self) -> str:
        return self.keys.notify_prefix

    # -- blocking commands ---------------------------------------------------------------------
    def _block_timeout(self, seconds: float) -> float:
        """``seconds`` as a blocking-command timeout: never 0 (forever), never past the socket
        timeout, whole seconds for servers before Redis 6."""
        if self._max_block is not None:
            seconds = min(seconds, self._max_block)
        seconds = max(seconds, _MIN_BLOCK)
        if self._integer_timeouts:
            return max(1, math.ceil(seconds))
        return round(seconds, 3)

    def _blocking(self, command: str, key: str, seconds: float, *args: Any) -> Any:
        """``command key *args timeout``, waiting up to ``seconds``."""
        try:
            return self._command(command, key, *args, self._block_timeout(seconds))
        except redis.exceptions.ResponseError as exc:
            # "timeout is not a float or out of range" (before 6.0: "... an integer ...").
            if "timeout is not" not in str(exc) or self._integer_timeouts:
                raise
            self._integer_timeouts = True  # Redis < 6.0: whole seconds only.
            return self._command(command, key, *args, self._block_timeout(seconds))

    # -- queue: a list, pushed on the left and taken from the right ---------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        # No priorities here: Huey refuses a prioritized task before it gets this far, and a
        # message that carries one anyway (huey 3.5.4 ignores them on this queue) is queued.
        self._command("LPUSH", self.keys.queue, data)

    def enqueue_many(self, items: Sequence[tuple[bytes, float | None]]) -> None:
        # LPUSH of several values pushes them one after the other: the same order as that
        # many LPUSHes, in one round trip per chunk.
        for chunk in _chunks(items):
            self._command("LPUSH", self.keys.queue, *(data for data, _ in chunk))

    def dequeue(self) -> bytes | None:
        if self.blocking:
            popped = self._blocking("BRPOP", self.keys.queue, self.read_timeout)
            return None if popped is None else as_bytes(popped[1])
        data = self._command("RPOP", self.keys.queue)
        return None if data is None else as_bytes(data)

    #: Revocations live in the results hash, which a script can be given in advance: the
    #: dequeue and lease scripts read them with the message.
    _revocations_in_results: ClassVar[bool] = True

    def dequeue_with_revocations(self) -> tuple[bytes, dict[str, Any]] | None:
        """One round trip for a message and its revocation fields while the queue has
        messages; once it is empty, ``dequeue()`` waits for the next (its fields unread)."""
        if not self._revocations_in_results:
            return super().dequeue_with_revocations()
        reply = self._dequeue_checked(
            keys=[self.keys.queue, self.keys.results], args=[self.queue_kind]
        )
        if reply is None:
            data = self.dequeue() if self.blocking else None
            return None if data is None else (data, {})
        return as_bytes(reply[0]), revocation_fields(reply[1:])

    def queue_size(self) -> int:
        return int(self.conn.llen(self.keys.queue))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        if limit is not None and limit <= 0:
            return []
        # The next message is the rightmost one.
        start = 0 if limit is None else -limit
        return [as_bytes(item) for item in reversed(self.conn.lrange(self.keys.queue, start, -1))]

    def flush_queue(self) -> None:
        self.conn.delete(self.keys.queue, self.keys.leases, self.keys.lease_deadlines)

    # -- leases: a hash of leased messages and a sorted set of their deadlines -----------------
    def lease(self, visibility_timeout: float) -> Lease | None:
        """The next message, hidden for ``visibility_timeout`` seconds (whole milliseconds);
        a lapsed lease first. With ``blocking``, waits up to ``read_timeout`` for a message
        (see ``_leases.wait_for_lease``)."""
        keys = [self.keys.queue, self.keys.leases, self.keys.lease_deadlines]
        if self._revocations_in_results:  # Read with the message, as dequeue does.
            keys.append(self.keys.results)

        def attempt(waiting: bool) -> Lease | None:
            lease_id = _leases.new_lease_id()
            args = _leases.lease_args(lease_id, visibility_timeout, self.queue_kind, waiting)
            return _leases.lease_of(self._lease(keys=keys, args=args), lease_id)

        if not self.blocking:
            return attempt(False)
        block = self._wait_for_message if self.queue_kind == "list" else None
        return _leases.wait_for_lease(attempt, self.read_timeout, block)

    def _wait_for_message(self, seconds: float) -> bool | None:
        """Sleep until the list queue has a message (True) or ``seconds`` pass (False),
        changing nothing; None (at once) when the server has no ``BLMOVE`` (Redis < 6.2)."""
        if not self._has_blmove:
            return None
        queue = self.keys.queue
        try:
            moved = self._blocking("BLMOVE", queue, seconds, queue, "RIGHT", "RIGHT")
        except redis.exceptions.ResponseError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            self._has_blmove = False
            logger.warning(
                "%s %r: the server has no BLMOVE (Redis 6.2+); a blocking lease() polls the "
                "queue instead",
                type(self).__name__,
                self.name,
            )
            return None
        return moved is not None

    def ack(self, lease_id: str) -> bool:
        keys = [self.keys.leases, self.keys.lease_deadlines]
        return bool(self._ack(keys=keys, args=[lease_id]))

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        args = _leases.extend_args(lease_id, visibility_timeout)
        return bool(self._extend_lease(keys=[self.keys.lease_deadlines], args=args))

    def lease_count(self) -> int:
        return int(self.conn.hlen(self.keys.leases))

    # -- dead letters: one hash ---------------------------------------------------------------
    def add_dead_letter(self, key: str, data: bytes) -> None:
        self.conn.hset(self.keys.dead_letters, key, data)

    def dead_letter_items(self) -> dict[str, bytes]:
        items = self.conn.hgetall(self.keys.dead_letters)
        return {_text(key): as_bytes(value) for key, value in items.items()}

    def dead_letter_count(self) -> int:
        return int(self.conn.hlen(self.keys.dead_letters))

    def delete_dead_letter(self, key: str) -> bool:
        return bool(self.conn.hdel(self.keys.dead_letters, key))

    def flush_dead_letters(self) -> None:
        self.conn.delete(self.keys.dead_letters)

    # -- schedule: a sorted set scored by huey's timestamp of the eta --------------------------
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        self.conn.zadd(self.keys.schedule, {data: to_timestamp(ts)})

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        due = self._read_schedule(keys=[self.keys.schedule], args=[to_timestamp(ts)])
        return [as_bytes(item) for item in due]

    def schedule_size(self) -> int:
        return int(self.conn.zcard(self.keys.schedule))

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        if limit is not None and limit <= 0:
            return []
        end = -1 if limit is None else limit - 1
        return [as_bytes(item) for item in self.conn.zrange(self.keys.schedule, 0, end)]

    def flush_schedule(self) -> None:
        self.conn.delete(self.keys.schedule)

    # -- key/value store: one hash ------------------------------------------------------------
    #: ``put_if_empty(..., ttl=...)`` works on every server (natively where it has hash-field
    #: TTL, see ``_scripts``), as huey 3.5.4 reports it for a server with HPEXPIRE.
    supports_hash_ttl: ClassVar[bool] = True

    def _results(self, *command: Any) -> Any:
        """A command on the results hash, as it reads without its expired fields."""
        return self._hash_command(keys=[self.keys.results, self.keys.expiry], args=command)

    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        key = key_text(key)
        if is_result and self.notify_result:
            self._put_field_notify(
                keys=[self.keys.results, self.keys.notify(key), self.keys.expiry],
                args=[key, value, self.notify_result_ttl],
            )
        else:
            self._results("HSET", key, value)

    def peek_data(self, key: Key) -> Any:
        value = self._results("HGET", key_text(key))
        return EmptyData if value is None else as_bytes(value)

    def peek_data_many(self, keys: Sequence[Key]) -> list[Any]:
        """The values at ``keys`` (``EmptyData`` where missing) in one ``HMGET``: the batched
        read a worker's revocation check needs (a proposed storage-contract method)."""
        if not keys:
            return []
        values = self._results("HMGET", *map(key_text, keys))
        return [EmptyData if value is None else as_bytes(value) for value in values]

    def pop_data(self, key: Key) -> Any:
        # The notification list outlives the read (until notify_result_ttl), as in huey 3.5.4:
        # a reader that starts waiting later still learns the result was written.
        value = self._pop_field(keys=[self.keys.results, self.keys.expiry], args=[key_text(key)])
        return EmptyData if value is None else as_bytes(value)

    def delete_data(self, key: Key) -> bool:
        return bool(self._results("HDEL", key_text(key)))

    def has_data_for_key(self, key: Key) -> bool:
        return bool(self._results("HEXISTS", key_text(key)))

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        args = [key_text(key), value, _milliseconds(check_ttl(ttl))]
        return bool(self._put_if_empty(keys=[self.keys.results, self.keys.expiry], args=args))

    def result_store_size(self) -> int:
        return int(self._results("HLEN"))

    def result_items(self) -> dict[str, bytes]:
        flat = self._results("HGETALL")
        return {
            _text(key): as_bytes(value) for key, value in zip(flat[::2], flat[1::2], strict=True)
        }

    def flush_results(self) -> None:
        self.conn.delete(self.keys.results, self.keys.expiry)

    # -- counters: one hash -------------------------------------------------------------------
    def incr(self, key: Key, amount: int = 1) -> int:
        return int(self.conn.hincrby(self.keys.counters, key_text(key), amount))

    def delete_counter(self, key: Key) -> None:
        self.conn.hdel(self.keys.counters, key_text(key))

    def flush_counters(self) -> None:
        self.conn.delete(self.keys.counters)

    # -- waiting for a result -----------------------------------------------------------------
    def wait_result(
        self,
        key: Key,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        """Without ``notify_result``, poll as every storage does. With it, sleep in ``BLPOP``
        on the key's notification list, which the result write pushes to; the key is checked
        again at least every ``max_delay`` seconds, for writers that do not notify. A
        notification taken means the result was written, even if it was read since (as in
        huey 3.5.4); it is used up."""
        if not self.notify_result:
            return super().wait_result(key, timeout, backoff, max_delay)
        deadline = None if timeout is None else time.monotonic() + timeout
        key = key_text(key)
        notify_key = self.keys.notify(key)
        while not self.has_data_for_key(key):
            wait = max_delay
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait = min(wait, remaining)
            if self._blocking("BLPOP", notify_key, wait) is not None:
                self.conn.delete(notify_key)
                return True
        return True


class PriorityRedisStorage(RedisStorage):
    """``RedisStorage`` with task priorities (Redis 5.0 or newer): the queue is a sorted set.

    As in huey 3.5.4, a message is stored behind an 8-byte big-endian microsecond timestamp
    and scored ``-priority``, so ``ZPOPMIN`` takes the highest priority first and, within a
    priority, the oldest message first.
    """

    supports_priority: ClassVar[bool] = True
    queue_kind: ClassVar[str] = "zset"

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        self._command("ZADD", self.keys.queue, -(priority or 0), _stamp() + data)

    def enqueue_many(self, items: Sequence[tuple[bytes, float | None]]) -> None:
        for chunk in _chunks(items):
            pairs = [(-(priority or 0), _stamp() + data) for data, priority in chunk]
            self._command("ZADD", self.keys.queue, *(part for pair in pairs for part in pair))

    def dequeue(self) -> bytes | None:
        if self.blocking:
            popped = self._blocking("BZPOPMIN", self.keys.queue, self.read_timeout)
            return None if popped is None else as_bytes(popped[1])[8:]
        popped = self.conn.zpopmin(self.keys.queue)
        return as_bytes(popped[0][0])[8:] if popped else None

    def queue_size(self) -> int:
        return int(self.conn.zcard(self.keys.queue))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        if limit is not None and limit <= 0:
            return []
        end = -1 if limit is None else limit - 1
        return [as_bytes(item)[8:] for item in self.conn.zrange(self.keys.queue, 0, end)]


class RedisExpireStorage(RedisStorage):
    """``RedisStorage`` keeping each result in a key of its own that expires after
    ``expire_time`` seconds (other data, such as revocations and locks, does not expire), and
    each counter in a key of its own with the same lifetime, as huey 3.5.4 does.

    Reads are not destructive, as in huey 3.5.4: ``pop_data`` leaves the value, so a result
    can be read again (by any reader) until it expires; ``delete_data`` removes it.
    """

    destructive_reads: ClassVar[bool] = False

    def __init__(
        self,
        name: str = "huey",
        expire_time: int | None = 86400,
        blocking: bool = True,
        read_timeout: float = 1,
        connection_pool: redis.ConnectionPool | None = None,
        url: str | None = None,
        client_name: str | None = None,
        notify_result: bool = False,
        notify_result_ttl: int = 86400,
        clean_name: bool = True,
        **connection_params: Any,
    ) -> None:
        super().__init__(
            name,
            blocking=blocking,
            read_timeout=read_timeout,
            connection_pool=connection_pool,
            url=url,
            client_name=client_name,
            notify_result=notify_result,
            notify_result_ttl=notify_result_ttl,
            clean_name=clean_name,
            **connection_params,
        )
        self.expire_time = int(expire_time) if expire_time else None
        self._put_key_notify = self._script(_scripts.PUT_KEY_NOTIFY)
        self._incr_key = self._script(_scripts.INCR_KEY)

    @property
    def result_key(self) -> Any:
        """The key of an entry, as a function: ``result_key(key)`` (huey 3.5.4's attribute)."""
        return lambda key: self.keys.data(key_text(key))

    @property
    def counter_key(self) -> Any:
        return lambda key: self.keys.counter(key_text(key))

    def _scan(self, pattern: str) -> Iterator[bytes]:
        yield from self.conn.scan_iter(match=pattern, count=_BATCH)

    def _delete_matching(self, pattern: str) -> None:
        batch: list[bytes] = []
        for key in self._scan(pattern):
            batch.append(key)
            if len(batch) >= _BATCH:
                self.conn.delete(*batch)
                batch = []
        if batch:
            self.conn.delete(*batch)

    # The revocation keys are keys of their own, which a script must be given before it knows
    # them (a cluster would refuse it): the worker reads them itself.
    _revocations_in_results: ClassVar[bool] = False

    # -- key/value store: one string key each --------------------------------------------------
    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        key = key_text(key)
        ttl = self.expire_time if is_result else None
        if is_result and self.notify_result:
            self._put_key_notify(
                keys=[self.keys.data(key), self.keys.notify(key)],
                args=[value, "" if ttl is None else ttl, self.notify_result_ttl],
            )
        elif ttl is None:
            self._command("SET", self.keys.data(key), value)
        else:
            self._command("SET", self.keys.data(key), value, "EX", ttl)

    def peek_data(self, key: Key) -> Any:
        value = self._command("GET", self.keys.data(key_text(key)))
        return EmptyData if value is None else as_bytes(value)

    def peek_data_many(self, keys: Sequence[Key]) -> list[Any]:
        if not keys:
            return []
        values = self._command("MGET", *(self.keys.data(key_text(key)) for key in keys))
        return [EmptyData if value is None else as_bytes(value) for value in values]

    # The server removes data when it expires: a read leaves it (huey 3.5.4's behaviour).
    pop_data = peek_data

    def delete_data(self, key: Key) -> bool:
        return bool(self._command("DEL", self.keys.data(key_text(key))))

    def has_data_for_key(self, key: Key) -> bool:
        return bool(self._command("EXISTS", self.keys.data(key_text(key))))

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        ms = _milliseconds(check_ttl(ttl))
        expiry = ("PX", ms) if ms else ()
        return bool(self._command("SET", self.keys.data(key_text(key)), value, "NX", *expiry))

    def result_store_size(self) -> int:
        return sum(1 for _ in self._scan(self.keys.data_pattern))

    def result_items(self) -> dict[str, bytes]:
        keys = list(self._scan(self.keys.data_pattern))
        items: dict[str, bytes] = {}
        for start in range(0, len(keys), _BATCH):
            chunk: Sequence[bytes] = keys[start : start + _BATCH]
            for redis_key, value in zip(chunk, self.conn.mget(chunk), strict=True):
                if value is not None:  # Expired or deleted since the scan.
                    items[self.keys.data_key_name(redis_key)] = as_bytes(value)
        return items

    def flush_results(self) -> None:
        self._delete_matching(self.keys.data_pattern)

    # -- counters: one string key each ---------------------------------------------------------
    def incr(self, key: Key, amount: int = 1) -> int:
        ttl = "" if self.expire_time is None else self.expire_time
        counter = self.keys.counter(key_text(key))
        return int(self._incr_key(keys=[counter], args=[amount, ttl]))

    def delete_counter(self, key: Key) -> None:
        self.conn.delete(self.keys.counter(key_text(key)))

    def flush_counters(self) -> None:
        self._delete_matching(self.keys.counter_pattern)


class PriorityRedisExpireStorage(PriorityRedisStorage, RedisExpireStorage):
    """``PriorityRedisStorage``'s queue with ``RedisExpireStorage``'s expiring results."""


# -- helpers ---------------------------------------------------------------------------------
_stamp_lock = threading.Lock()
_last_stamp = 0


def _stamp() -> bytes:
    """An 8-byte big-endian microsecond timestamp, strictly increasing within this process,
    so that messages of one priority leave in the order they came."""
    global _last_stamp
    with _stamp_lock:
        now = max(time.time_ns() // 1000, _last_stamp + 1)
        _last_stamp = now
    return now.to_bytes(8, "big")


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``_BATCH``: big batches, but no command of unbounded size."""
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _clean(name: str) -> str:
    return clean_name(name)


def _milliseconds(ttl: float | None) -> str | int:
    """A ttl as whole milliseconds for the server (at least 1), or '' for none."""
    return "" if ttl is None else max(1, math.ceil(ttl * 1000))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


__all__ = [
    "PriorityRedisExpireStorage",
    "PriorityRedisStorage",
    "RedisExpireStorage",
    "RedisStorage",
]
