"""``ValkeyGlideStorage``: huey's Redis data layout through the valkey-glide client.

Keys and values are those of huey's ``RedisStorage`` (listed in the package docstring), so
one queue can be served by ``RedisHuey`` and ``ValkeyGlideHuey`` side by side.

Connections. glide multiplexes every command of a client over one connection per node. A
blocking pop holds its connection on the server until it returns, so commands queued behind
it would wait (and time out). Non-blocking commands therefore share one client per process,
and each thread that blocks (``dequeue`` with ``blocking=True``, ``wait_result`` with
``notify_result=True``) gets a client of its own, used for nothing else. A blocking client
whose command fails or times out is closed rather than reused: its connection may still have
a pop pending on the server, which would otherwise take a message for nobody.

Leases. ``lease``, ``ack`` and ``extend_lease`` run the Lua scripts of the redis-py storages
(``huey.backends.redis._scripts``) on the same keys, so both kinds of storage share one
queue's leases. A blocking ``lease`` sleeps in ``BLMOVE queue queue RIGHT RIGHT`` (Redis 6.2+,
any Valkey) on the thread's blocking client; without ``BLMOVE`` it polls.

Threads and processes. The clients live on one private event loop thread per process
(``_loop``). After ``fork()`` the child creates new clients on its own loop the first time it
touches the storage; the parent's clients are never used there.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from huey.backends.redis import _leases, _scripts
from huey.backends.redis._keys import KeyLayout
from huey.constants import EmptyData
from huey.contrib.valkey_glide._loop import creation_lock, loop_thread
from huey.storage import BaseStorage, Key, Lease, check_ttl, key_text
from huey.utils import to_timestamp

if TYPE_CHECKING:
    from glide import GlideClient, GlideClientConfiguration, NodeAddress

T = TypeVar("T")

__all__ = ["ValkeyGlideStorage", "key_name"]

INSTALL_HINT = (
    "ValkeyGlideStorage needs the valkey-glide client (import name 'glide'): "
    "pip install 'huey-redis[glide]' (or pip install valkey-glide)"
)

# The request timeout glide applies when none is configured is 250 ms: too short for a
# result of a few megabytes on a busy server, and a destructive read (RPOP, the pop of a
# result) that times out on the client after the server ran it loses its data.
DEFAULT_REQUEST_TIMEOUT = 5.0
# Extra time granted to a call, beyond glide's own timeout, before the bridge gives up on it.
_BRIDGE_GRACE = 5.0
# glide's connection timeout when none is configured (AdvancedGlideClientConfiguration).
_DEFAULT_CONNECT_MS = 2000

_URL_SCHEMES = {"redis": False, "valkey": False, "rediss": True, "valkeys": True}

# GlideClientConfiguration arguments that this storage sets from parameters of its own (the
# others of the same name, request_timeout, use_tls and client_name, are storage parameters).
_MANAGED_OPTIONS = {
    "addresses": "host=/port=, addresses= or url=",
    "database_id": "db=",
    "pubsub_subscriptions": None,
}


def key_name(name: str) -> str:
    """The queue name as it appears in keys: ASCII letters, digits and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_]", "", name)


def _import_glide() -> Any:
    try:
        import glide
    except ImportError as exc:
        raise ImportError(INSTALL_HINT, name="glide") from exc
    return glide


class _Clients:
    """The glide clients of one storage in one process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.shared: GlideClient | None = None
        # Thread ident -> (the thread, its blocking client).
        self.blocking: dict[int, tuple[weakref.ref[threading.Thread], GlideClient]] = {}


class ValkeyGlideStorage(BaseStorage):
    """A huey queue on Valkey or Redis OSS through valkey-glide, in huey's Redis key layout.

    ``name`` is the queue name; keys carry it without its characters outside
    ``[A-Za-z0-9_]`` (as given with ``clean_name=False``). Where the server is (one of):

    * ``host`` / ``port`` (default ``127.0.0.1:6379``), with ``db``, ``username``,
      ``password``, ``use_tls``;
    * ``addresses``: several ``(host, port)`` pairs (or glide ``NodeAddress``) of one
      primary and its replicas; glide finds the primary among them;
    * ``url``: ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` for TLS
      (``valkey://`` and ``valkeys://`` too);
    * ``configuration``: a complete glide ``GlideClientConfiguration``, used as is.

    Other parameters:

    * ``blocking`` (default True): ``dequeue`` waits up to ``read_timeout`` seconds
      (default 1) for a message with BRPOP instead of returning at once;
    * ``request_timeout``: seconds glide waits for the answer to a command (default 5; glide's
      own default is 0.25 s). A blocking pop is allowed its ``read_timeout`` on top;
    * ``client_name``: the name the connections give themselves (CLIENT SETNAME);
    * ``notify_result`` / ``notify_result_ttl``: a result write also pushes to a per-result
      list (kept ``notify_result_ttl`` seconds), on which ``wait_result`` blocks instead of
      polling, as huey's ``RedisStorage`` does;
    * any other keyword is an argument of glide's ``GlideClientConfiguration``
      (``reconnect_strategy``, ``read_from``, ``protocol``, ``inflight_requests_limit``,
      ``advanced_config``, ``lazy_connect``, ``credentials``...); an unknown one raises
      ``TypeError``.

    Connections are opened on first use, not by the constructor.
    """

    supports_priority = False
    supports_leases = True
    supports_blocking_dequeue = True

    def __init__(
        self,
        name: str = "huey",
        blocking: bool = True,
        read_timeout: float = 1,
        *,
        url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        addresses: Sequence[tuple[str, int] | NodeAddress] | None = None,
        client_name: str | None = None,
        request_timeout: float | None = None,
        notify_result: bool = False,
        notify_result_ttl: int = 86400,
        clean_name: bool = True,
        configuration: GlideClientConfiguration | None = None,
        **glide_options: Any,
    ) -> None:
        super().__init__(name)
        self._glide = _import_glide()
        if read_timeout is None or read_timeout <= 0:
            raise ValueError(
                f"ValkeyGlideStorage: read_timeout must be a positive number of seconds, "
                f"not {read_timeout!r} (BRPOP takes 0 as 'wait forever')"
            )
        if request_timeout is not None and not request_timeout > 0:
            raise ValueError(
                f"ValkeyGlideStorage: request_timeout must be a positive number of seconds, "
                f"not {request_timeout!r}"
            )
        self.supports_blocking_dequeue = bool(blocking)
        self.read_timeout = float(read_timeout)
        self.notify_result = bool(notify_result)
        self.notify_result_ttl = int(notify_result_ttl)

        clean = key_name(name) if clean_name else name
        self.queue_key = f"huey.redis.{clean}"
        self.schedule_key = f"huey.schedule.{clean}"
        self.result_key = f"huey.results.{clean}"
        self.counter_key = f"huey.counters.{clean}"
        self.notify_prefix = f"huey.notify.{clean}."
        #: Every key name (those above, and the lease and dead-letter keys), as RedisStorage's.
        self.keys = KeyLayout(clean)

        if configuration is not None:
            given = {
                "request_timeout": request_timeout,
                "url": url,
                "addresses": addresses,
                "username": username,
                "password": password,
                "client_name": client_name,
            }
            clash = sorted(key for key, value in given.items() if value is not None)
            clash += sorted(glide_options)
            if clash:
                raise TypeError(
                    "ValkeyGlideStorage: configuration= is a complete glide "
                    "GlideClientConfiguration; it cannot be combined with "
                    + ", ".join(f"{key}=" for key in clash)
                )
            if not isinstance(configuration, self._glide.GlideClientConfiguration):
                raise TypeError(
                    "ValkeyGlideStorage: configuration must be a glide "
                    f"GlideClientConfiguration, not {type(configuration).__name__} "
                    "(cluster mode is not supported)"
                )
            self.configuration = configuration
            configured = getattr(configuration, "request_timeout", None)
            #: Seconds glide waits for an answer (None: glide's default, 0.25 s).
            self.request_timeout = None if configured is None else configured / 1000
        else:
            self.request_timeout = (
                DEFAULT_REQUEST_TIMEOUT if request_timeout is None else float(request_timeout)
            )
            self.configuration = self._build_configuration(
                url=url,
                host=host,
                port=port,
                db=db,
                username=username,
                password=password,
                use_tls=use_tls,
                addresses=addresses,
                client_name=client_name,
                options=glide_options,
            )
        self._clients = _Clients()
        self._lease_script = self._glide.Script(_scripts.LEASE)
        self._ack_script = self._glide.Script(_scripts.ACK)
        self._extend_script = self._glide.Script(_scripts.EXTEND_LEASE)
        # The results hash as the redis-py storages keep it: fields stored with a ttl expire
        # natively or through the deadline set (see huey.backends.redis._scripts).
        self._hash_script = self._glide.Script(_scripts.HASH_COMMAND)
        self._put_if_empty_script = self._glide.Script(_scripts.PUT_IF_EMPTY)
        self._pop_script = self._glide.Script(_scripts.POP_FIELD)
        self._put_notify_script = self._glide.Script(_scripts.PUT_FIELD_NOTIFY)
        self._has_blmove = True  # Cleared once a server before Redis 6.2 refuses BLMOVE.

    # -- configuration -------------------------------------------------------------------------
    def _build_configuration(
        self,
        *,
        url: str | None,
        host: str,
        port: int,
        db: int,
        username: str | None,
        password: str | None,
        use_tls: bool,
        addresses: Sequence[tuple[str, int] | NodeAddress] | None,
        client_name: str | None,
        options: dict[str, Any],
    ) -> GlideClientConfiguration:
        glide = self._glide
        accepted = set(inspect.signature(glide.GlideClientConfiguration).parameters)
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise TypeError(
                "ValkeyGlideStorage() got unexpected keyword arguments: "
                + ", ".join(unknown)
                + " (neither a storage parameter nor a glide GlideClientConfiguration argument)"
            )
        for option in sorted(set(options) & set(_MANAGED_OPTIONS)):
            instead = _MANAGED_OPTIONS[option]
            raise TypeError(
                f"ValkeyGlideStorage: pass {instead} rather than {option}="
                if instead
                else f"ValkeyGlideStorage: {option}= is not supported"
            )
        if url is not None:
            if addresses is not None:
                raise TypeError("ValkeyGlideStorage: pass url= or addresses=, not both")
            host, port, db, url_user, url_password, url_tls = _parse_url(url)
            username = username if username is not None else url_user
            password = password if password is not None else url_password
            use_tls = use_tls or url_tls
        if addresses is not None:
            nodes = [self._node(address) for address in addresses]
            if not nodes:
                raise ValueError("ValkeyGlideStorage: addresses is empty")
        else:
            nodes = [glide.NodeAddress(host, int(port))]
        if username is not None or password is not None:
            if "credentials" in options:
                raise TypeError(
                    "ValkeyGlideStorage: pass username=/password= or credentials=, not both"
                )
            options["credentials"] = glide.ServerCredentials(password=password, username=username)
        timeout_ms = None
        if self.request_timeout is not None:
            timeout_ms = max(1, round(self.request_timeout * 1000))
        configuration: GlideClientConfiguration = glide.GlideClientConfiguration(
            nodes,
            use_tls=use_tls,
            database_id=int(db),
            request_timeout=timeout_ms,
            client_name=client_name,
            **options,
        )
        return configuration

    def _node(self, address: tuple[str, int] | NodeAddress) -> NodeAddress:
        glide = self._glide
        if isinstance(address, glide.NodeAddress):
            return address
        try:
            host, port = address
        except (TypeError, ValueError):
            raise TypeError(
                "ValkeyGlideStorage: each address must be a (host, port) pair or a glide "
                f"NodeAddress, not {address!r}"
            ) from None
        node: NodeAddress = glide.NodeAddress(str(host), int(port))
        return node

    # -- clients -------------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T], extra: float = 0.0) -> T:
        """Run a glide coroutine from this (plain) thread."""
        request_timeout = 0.25 if self.request_timeout is None else self.request_timeout
        return loop_thread().run(coro, request_timeout + extra + _BRIDGE_GRACE)

    def _current_clients(self) -> _Clients:
        clients = self._clients
        if clients.pid != os.getpid():
            # A forked child: the parent's clients belong to a runtime and a loop that do not
            # exist here. Drop them unused (glide never closes a client outside the process
            # that created it).
            clients = self._clients = _Clients()
        return clients

    def _create_client(self) -> GlideClient:
        advanced = getattr(self.configuration, "advanced_config", None)
        connect_ms = getattr(advanced, "connection_timeout", None) or _DEFAULT_CONNECT_MS
        client: GlideClient = self._run(
            self._glide.GlideClient.create(self.configuration), extra=connect_ms / 1000
        )
        return client

    @property
    def client(self) -> GlideClient:
        """The shared client of this process, for non-blocking commands."""
        clients = self._current_clients()
        client = clients.shared
        if client is None:
            with creation_lock():
                clients = self._current_clients()
                if clients.shared is None:
                    clients.shared = self._create_client()
                client = clients.shared
        return client

    def _blocking_client(self) -> GlideClient:
        """This thread's own client, for blocking commands only."""
        clients = self._current_clients()
        ident = threading.get_ident()
        entry = clients.blocking.get(ident)
        current = threading.current_thread()
        if entry is not None and entry[0]() is current:
            return entry[1]
        with creation_lock():
            stale = [
                key
                for key, (thread_ref, _) in clients.blocking.items()
                if key == ident or not _alive(thread_ref())
            ]
            for key in stale:
                self._close_client(clients.blocking.pop(key)[1])
            client = self._create_client()
            clients.blocking[ident] = (weakref.ref(current), client)
        return client

    def _discard_blocking_client(self) -> None:
        clients = self._current_clients()
        entry = clients.blocking.pop(threading.get_ident(), None)
        if entry is not None:
            self._close_client(entry[1])

    def _close_client(self, client: GlideClient) -> None:
        try:
            self._run(client.close())
        except Exception:
            pass

    def _blocking_call(
        self, command: Callable[[GlideClient], Coroutine[Any, Any, T]], wait: float
    ) -> T:
        """Run a blocking ``command`` (waiting up to ``wait`` seconds) on this thread's
        blocking client."""
        client = self._blocking_client()
        try:
            return self._run(command(client), extra=wait)
        except BaseException:
            # The pop may still be pending on the server over this connection.
            self._discard_blocking_client()
            raise

    def close(self) -> bool:
        """Close this process's connections; the storage reconnects if used again."""
        clients = self._clients
        if clients.pid != os.getpid():
            self._clients = _Clients()
            return False
        with creation_lock():
            every = [entry[1] for entry in clients.blocking.values()]
            if clients.shared is not None:
                every.append(clients.shared)
            clients.shared = None
            clients.blocking.clear()
        for client in every:
            self._close_client(client)
        return bool(every)

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        self.check_priority(priority)
        self._run(self.client.lpush(self.queue_key, [data]))

    def dequeue(self) -> bytes | None:
        """The next message; with ``blocking``, waits up to ``read_timeout`` for one."""
        if not self.supports_blocking_dequeue:
            data: bytes | None = self._run(self.client.rpop(self.queue_key))
            return data
        timeout = self.read_timeout
        popped = self._blocking_call(
            lambda client: client.brpop([self.queue_key], timeout), timeout
        )
        if popped is None:
            return None
        value: bytes = popped[1]
        return value

    def queue_size(self) -> int:
        size: int = self._run(self.client.llen(self.queue_key))
        return size

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        # LPUSH adds on the left and messages leave from the right: the dequeue order is the
        # list read from its end.
        if limit is not None and limit <= 0:
            return []
        start = 0 if limit is None else -int(limit)
        items: list[bytes] = self._run(self.client.lrange(self.queue_key, start, -1))
        return items[::-1]

    def flush_queue(self) -> None:
        keys = self.keys
        self._run(self.client.delete([self.queue_key, keys.leases, keys.lease_deadlines]))

    # -- leases (the scripts and layout of huey.backends.redis) --------------------------------
    def lease(self, visibility_timeout: float) -> Lease | None:
        """The next message, hidden for ``visibility_timeout`` seconds; a lapsed lease first.
        With ``blocking``, waits up to ``read_timeout`` for a message."""
        keys: list[str | bytes] = [self.queue_key, self.keys.leases, self.keys.lease_deadlines]

        def attempt(waiting: bool) -> Lease | None:
            lease_id = _leases.new_lease_id()
            args = _leases.lease_args(lease_id, visibility_timeout, "list", waiting)
            reply = self._run(
                self.client.invoke_script(self._lease_script, keys=keys, args=list(args))
            )
            return _leases.lease_of(reply, lease_id)

        if not self.supports_blocking_dequeue:
            return attempt(False)
        return _leases.wait_for_lease(attempt, self.read_timeout, self._wait_for_message)

    def _wait_for_message(self, seconds: float) -> bool | None:
        """Sleep until the queue has a message (True) or ``seconds`` pass (False), changing
        nothing (its last element moves onto itself); None when the server has no BLMOVE."""
        if not self._has_blmove:
            return None
        glide, queue = self._glide, self.queue_key
        wait = max(round(seconds, 3), 0.01)  # 0 would mean "wait forever".
        right = glide.ListDirection.RIGHT
        try:
            moved = self._blocking_call(
                lambda client: client.blmove(queue, queue, right, right, wait), wait
            )
        except glide.RequestError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            self._has_blmove = False
            return None
        return moved is not None

    def ack(self, lease_id: str) -> bool:
        keys: list[str | bytes] = [self.keys.leases, self.keys.lease_deadlines]
        acked = self._run(self.client.invoke_script(self._ack_script, keys=keys, args=[lease_id]))
        return bool(acked)

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        args: list[str | bytes] = list(_leases.extend_args(lease_id, visibility_timeout))
        keys: list[str | bytes] = [self.keys.lease_deadlines]
        extended = self._run(self.client.invoke_script(self._extend_script, keys=keys, args=args))
        return bool(extended)

    def lease_count(self) -> int:
        count: int = self._run(self.client.hlen(self.keys.leases))
        return count

    # -- dead letters --------------------------------------------------------------------------
    def add_dead_letter(self, key: str, data: bytes) -> None:
        self._run(self.client.hset(self.keys.dead_letters, {key: data}))

    def dead_letter_items(self) -> dict[str, bytes]:
        items: Mapping[bytes, bytes] = self._run(self.client.hgetall(self.keys.dead_letters))
        return {_text(key): value for key, value in items.items()}

    def dead_letter_count(self) -> int:
        count: int = self._run(self.client.hlen(self.keys.dead_letters))
        return count

    def delete_dead_letter(self, key: str) -> bool:
        deleted: int = self._run(self.client.hdel(self.keys.dead_letters, [key]))
        return deleted > 0

    def flush_dead_letters(self) -> None:
        self._run(self.client.delete([self.keys.dead_letters]))

    # -- schedule ------------------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        self._run(self.client.zadd(self.schedule_key, {data: to_timestamp(ts)}))

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        glide = self._glide
        upto = glide.ScoreBoundary(to_timestamp(ts))
        batch = glide.Batch(is_atomic=True)  # MULTI/EXEC: no item is read twice or lost.
        batch.zrange(self.schedule_key, glide.RangeByScore(glide.InfBound.NEG_INF, upto))
        batch.zremrangebyscore(self.schedule_key, glide.InfBound.NEG_INF, upto)
        replies = self._run(self.client.exec(batch, raise_on_error=True))
        if replies is None:  # Only a WATCH makes EXEC return nil; none is used.
            raise RuntimeError("ValkeyGlideStorage: the schedule transaction was aborted")
        items: list[bytes] = replies[0]
        return items

    def schedule_size(self) -> int:
        size: int = self._run(self.client.zcard(self.schedule_key))
        return size

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        if limit is not None and limit <= 0:
            return []
        end = -1 if limit is None else int(limit) - 1
        items: list[bytes] = self._run(
            self.client.zrange(self.schedule_key, self._glide.RangeByIndex(0, end))
        )
        return items

    def flush_schedule(self) -> None:
        self._run(self.client.delete([self.schedule_key]))

    # -- key/value result store ----------------------------------------------------------------
    #: ``put_if_empty(..., ttl=...)`` works on every server, as for ``RedisStorage``.
    supports_hash_ttl = True

    def _script(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        args = [arg if isinstance(arg, bytes | str) else str(arg) for arg in args]
        return self._run(self.client.invoke_script(script, keys=list(keys), args=args))

    def _results(self, *command: Any) -> Any:
        """A command on the results hash, as it reads without its expired fields."""
        return self._script(self._hash_script, [self.result_key, self.keys.expiry], command)

    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        key = key_text(key)
        if not (is_result and self.notify_result):
            self._results("HSET", key, value)
            return
        keys = [self.result_key, self.notify_prefix + key, self.keys.expiry]
        self._script(self._put_notify_script, keys, [key, value, self.notify_result_ttl])

    def peek_data(self, key: Key) -> Any:
        value = self._results("HGET", key_text(key))
        return EmptyData if value is None else value

    def peek_data_many(self, keys: Sequence[Key]) -> list[Any]:
        if not keys:
            return []
        values = self._results("HMGET", *map(key_text, keys))
        return [EmptyData if value is None else value for value in values]

    def pop_data(self, key: Key) -> Any:
        # One script reads and deletes: of two readers, one gets the value.
        key = key_text(key)
        value = self._script(self._pop_script, [self.result_key, self.keys.expiry], [key])
        return EmptyData if value is None else value

    def delete_data(self, key: Key) -> bool:
        return bool(self._results("HDEL", key_text(key)))

    def has_data_for_key(self, key: Key) -> bool:
        return bool(self._results("HEXISTS", key_text(key)))

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        checked = check_ttl(ttl)
        ms = "" if checked is None else max(1, math.ceil(checked * 1000))
        keys = [self.result_key, self.keys.expiry]
        return bool(self._script(self._put_if_empty_script, keys, [key_text(key), value, ms]))

    def result_store_size(self) -> int:
        return int(self._results("HLEN"))

    def result_items(self) -> dict[str, bytes]:
        flat = self._results("HGETALL")
        return {_text(key): value for key, value in zip(flat[::2], flat[1::2], strict=True)}

    def flush_results(self) -> None:
        self._run(self.client.delete([self.result_key, self.keys.expiry]))

    # -- counters ------------------------------------------------------------------------------
    def incr(self, key: Key, amount: int = 1) -> int:
        counter = key_text(key)
        value: int = self._run(self.client.hincrby(self.counter_key, counter, int(amount)))
        return value

    def delete_counter(self, key: Key) -> None:
        self._run(self.client.hdel(self.counter_key, [key_text(key)]))

    def flush_counters(self) -> None:
        self._run(self.client.delete([self.counter_key]))

    # -- result notification -------------------------------------------------------------------
    def wait_result(
        self,
        key: Key,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        """Block until ``key`` has data or ``timeout`` passes.

        With ``notify_result``, waits on the result's notification list (BLPOP), in slices
        of at most ``max_delay`` seconds so that several waiters on one result all see it;
        otherwise polls as every storage does. A notification taken means the result was
        written, even if it was read since (as in huey 3.5.4); it is used up.
        """
        if not self.notify_result:
            return super().wait_result(key, timeout, backoff, max_delay)
        deadline = None if timeout is None else time.monotonic() + timeout
        notify_key = self.notify_prefix + key_text(key)
        while not self.has_data_for_key(key):
            wait = max(max_delay, 0.01)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait = min(wait, remaining)
            if self._wait_notification(notify_key, max(round(wait, 3), 0.001)):
                self._run(self.client.delete([notify_key]))
                return True
        return True

    def _wait_notification(self, notify_key: str, wait: float) -> bool:
        """Whether a notification was taken within ``wait`` seconds."""
        popped = self._blocking_call(lambda client: client.blpop([notify_key], wait), wait)
        return popped is not None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.queue_key!r}>"


def _alive(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _parse_url(url: str) -> tuple[str, int, int, str | None, str | None, bool]:
    """``(host, port, db, username, password, tls)`` of a ``redis://`` style URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise ValueError(
            f"ValkeyGlideStorage: unsupported url scheme {parts.scheme!r} in {url!r} "
            f"(one of {', '.join(sorted(_URL_SCHEMES))})"
        )
    path = parts.path.strip("/")
    try:
        db = int(path) if path else 0
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"ValkeyGlideStorage: invalid url {url!r}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname or "127.0.0.1", port, db, username, password, _URL_SCHEMES[scheme]
